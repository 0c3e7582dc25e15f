"""What an OpenSearch domain was, in the words CreateDomain takes: saved before it is deleted."""

from __future__ import annotations

from typing import Any

#: DescribeDomain fields CreateDomain takes back unchanged.
UNCHANGED = (
    "EngineVersion",
    "ClusterConfig",
    "EBSOptions",
    "SnapshotOptions",
    "CognitoOptions",
    "EncryptionAtRestOptions",
    "NodeToNodeEncryptionOptions",
    "AdvancedOptions",
    "LogPublishingOptions",
    "DomainEndpointOptions",
    "OffPeakWindowOptions",
    "SoftwareUpdateOptions",
    "IPAddressType",
)
#: The AdvancedSecurityOptions fields CreateDomain takes (the master user's secrets are never described).
SECURITY = ("Enabled", "InternalUserDatabaseEnabled", "AnonymousAuthEnabled", "SAMLOptions", "JWTOptions")
#: The VPCOptions fields CreateDomain takes (the VPC and zones follow from the subnets).
VPC = ("SubnetIds", "SecurityGroupIds")


def _given(value: Any) -> bool:
    return value is not None and value != {} and value != [] and value != ""


def _some(source: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: source[key] for key in keys if _given(source.get(key))}


def domain_shape(description: dict[str, Any]) -> dict[str, Any]:
    """CreateDomain arguments (all but ``DomainName``) reproducing a DescribeDomain ``DomainStatus``.

    Keeps the engine version, cluster, storage, access policy, encryption, endpoint, logging,
    networking and fine-grained access options; drops what only describes the running domain
    (ids, endpoints, processing states) and what CreateDomain would not take back as given.

    :param description: the ``DomainStatus`` of a DescribeDomain answer.
    :return: a JSON-shaped dict, to be passed as ``create_domain(DomainName=..., **shape)``.
    """
    shape = _some(description, UNCHANGED)
    if _given(description.get("AccessPolicies")):
        shape["AccessPolicies"] = description["AccessPolicies"]
    vpc = _some(description.get("VPCOptions") or {}, VPC)
    if vpc:
        shape["VPCOptions"] = vpc
    security = _some(description.get("AdvancedSecurityOptions") or {}, SECURITY)
    if security:
        shape["AdvancedSecurityOptions"] = security
    return shape
