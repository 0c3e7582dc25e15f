"""domain_shape: a DescribeDomain answer back to CreateDomain arguments."""

from __future__ import annotations

from airflow_provider_bio.core.domain_shape import domain_shape

#: A DomainStatus as OpenSearch describes a VPC domain with fine-grained access control.
DESCRIBED = {
    "DomainId": "222233334444/efcms-search-test-v1",
    "DomainName": "efcms-search-test-v1",
    "ARN": "arn:aws:es:us-east-1:222233334444:domain/efcms-search-test-v1",
    "Created": True,
    "Deleted": False,
    "Endpoints": {"vpc": "vpc-efcms-search-test-v1-abc.us-east-1.es.amazonaws.com"},
    "Processing": False,
    "UpgradeProcessing": False,
    "EngineVersion": "OpenSearch_2.11",
    "ClusterConfig": {
        "InstanceType": "r6g.large.search",
        "InstanceCount": 2,
        "DedicatedMasterEnabled": False,
        "ZoneAwarenessEnabled": True,
        "ZoneAwarenessConfig": {"AvailabilityZoneCount": 2},
    },
    "EBSOptions": {"EBSEnabled": True, "VolumeType": "gp3", "VolumeSize": 100, "Iops": 3000, "Throughput": 125},
    "AccessPolicies": '{"Version":"2012-10-17","Statement":[]}',
    "SnapshotOptions": {"AutomatedSnapshotStartHour": 0},
    "VPCOptions": {
        "VPCId": "vpc-1",
        "SubnetIds": ["subnet-a", "subnet-b"],
        "AvailabilityZones": ["us-east-1a", "us-east-1b"],
        "SecurityGroupIds": ["sg-1"],
    },
    "CognitoOptions": {"Enabled": False},
    "EncryptionAtRestOptions": {"Enabled": True, "KmsKeyId": "arn:aws:kms:us-east-1:222233334444:key/k"},
    "NodeToNodeEncryptionOptions": {"Enabled": True},
    "AdvancedOptions": {"rest.action.multi.allow_explicit_index": "true"},
    "DomainEndpointOptions": {"EnforceHTTPS": True, "TLSSecurityPolicy": "Policy-Min-TLS-1-2-2019-07"},
    "AdvancedSecurityOptions": {
        "Enabled": True,
        "InternalUserDatabaseEnabled": False,
        "AnonymousAuthEnabled": False,
        "AnonymousAuthDisableDate": "2026-01-01T00:00:00Z",
    },
    "AutoTuneOptions": {"State": "ENABLED"},
    "ServiceSoftwareOptions": {"CurrentVersion": "OpenSearch_2_11_R20240502"},
    "SoftwareUpdateOptions": {},
}


def test_a_described_domain_becomes_what_create_domain_takes():
    assert domain_shape(DESCRIBED) == {
        "EngineVersion": "OpenSearch_2.11",
        "ClusterConfig": {
            "InstanceType": "r6g.large.search",
            "InstanceCount": 2,
            "DedicatedMasterEnabled": False,
            "ZoneAwarenessEnabled": True,
            "ZoneAwarenessConfig": {"AvailabilityZoneCount": 2},
        },
        "EBSOptions": {"EBSEnabled": True, "VolumeType": "gp3", "VolumeSize": 100, "Iops": 3000, "Throughput": 125},
        "AccessPolicies": '{"Version":"2012-10-17","Statement":[]}',
        "SnapshotOptions": {"AutomatedSnapshotStartHour": 0},
        "VPCOptions": {"SubnetIds": ["subnet-a", "subnet-b"], "SecurityGroupIds": ["sg-1"]},
        "CognitoOptions": {"Enabled": False},
        "EncryptionAtRestOptions": {"Enabled": True, "KmsKeyId": "arn:aws:kms:us-east-1:222233334444:key/k"},
        "NodeToNodeEncryptionOptions": {"Enabled": True},
        "AdvancedOptions": {"rest.action.multi.allow_explicit_index": "true"},
        "DomainEndpointOptions": {"EnforceHTTPS": True, "TLSSecurityPolicy": "Policy-Min-TLS-1-2-2019-07"},
        "AdvancedSecurityOptions": {
            "Enabled": True,
            "InternalUserDatabaseEnabled": False,
            "AnonymousAuthEnabled": False,
        },
    }


def test_an_empty_access_policy_and_no_vpc_are_left_out():
    shape = domain_shape({"DomainName": "d", "EngineVersion": "OpenSearch_2.5", "AccessPolicies": ""})
    assert shape == {"EngineVersion": "OpenSearch_2.5"}


def test_false_and_zero_are_kept_and_empty_values_left_out():
    shape = domain_shape(
        {
            "EngineVersion": "OpenSearch_2.11",
            "ClusterConfig": {"InstanceCount": 0},
            "CognitoOptions": {"Enabled": False},
            "AdvancedOptions": {},
            "LogPublishingOptions": None,
            "IPAddressType": "",
            "OffPeakWindowOptions": [],
            "AccessPolicies": None,
            "VPCOptions": {"SubnetIds": [], "SecurityGroupIds": ["sg-1"], "VPCId": "vpc-1"},
            "AdvancedSecurityOptions": {"Enabled": False, "SAMLOptions": {}, "JWTOptions": {"Enabled": True}},
        }
    )
    assert shape == {
        "EngineVersion": "OpenSearch_2.11",
        "ClusterConfig": {"InstanceCount": 0},
        "CognitoOptions": {"Enabled": False},
        "VPCOptions": {"SecurityGroupIds": ["sg-1"]},
        "AdvancedSecurityOptions": {"Enabled": False, "JWTOptions": {"Enabled": True}},
    }


def test_every_option_create_domain_takes_is_carried_over():
    described = {
        name: {"Given": name}
        for name in (
            "LogPublishingOptions",
            "OffPeakWindowOptions",
            "SoftwareUpdateOptions",
            "IPAddressType",
            "DomainEndpointOptions",
        )
    }
    assert domain_shape(described) == described


def test_networking_and_security_without_anything_create_domain_takes_are_left_out():
    shape = domain_shape(
        {
            "EngineVersion": "OpenSearch_2.5",
            "VPCOptions": {"VPCId": "vpc-1", "AvailabilityZones": ["us-east-1a"]},
            "AdvancedSecurityOptions": {"AnonymousAuthDisableDate": "2026-01-01T00:00:00Z"},
        }
    )
    assert shape == {"EngineVersion": "OpenSearch_2.5"}
    assert domain_shape({"VPCOptions": None, "AdvancedSecurityOptions": None}) == {}
    assert domain_shape(
        {
            "AdvancedSecurityOptions": {
                "InternalUserDatabaseEnabled": True,
                "AnonymousAuthEnabled": True,
                "SAMLOptions": {"Enabled": True},
            }
        }
    ) == {
        "AdvancedSecurityOptions": {
            "InternalUserDatabaseEnabled": True,
            "AnonymousAuthEnabled": True,
            "SAMLOptions": {"Enabled": True},
        }
    }
