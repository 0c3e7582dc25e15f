"""The email transform: property-based over arbitrary nested items, plus the seed's cases."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_bio.core.obfuscation import ObfuscationSettings, obfuscate_item, obfuscated_email

SETTINGS = ObfuscationSettings(domain="example.com")
KEYS = st.sampled_from(["email", "name", "pk", "sk", "contact", "Email", "emails"])
SCALARS = st.one_of(
    st.text(max_size=20), st.integers(), st.booleans(), st.none(), st.decimals(allow_nan=False), st.binary(max_size=8)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=20,
)
ITEMS = st.dictionaries(KEYS | st.text(max_size=8), VALUES, max_size=6)


def email_values(value, found=None):
    """Every value stored under an ``email`` key, at any depth."""
    found = [] if found is None else found
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "email":
                found.append(inner)
            else:
                email_values(inner, found)
    elif isinstance(value, list):
        for inner in value:
            email_values(inner, found)
    return found


def without_emails(value):
    """The item with every value under an ``email`` key (and an obfuscated pk) blanked out."""
    if isinstance(value, dict):
        return {key: "<email>" if key == "email" else without_emails(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [without_emails(inner) for inner in value]
    return value


@given(ITEMS)
def test_no_string_under_an_email_key_survives(item):
    result, counts = obfuscate_item(item, SETTINGS)
    before, after = email_values(item), email_values(result)
    for old, new in zip(before, after, strict=True):
        if isinstance(old, str):
            assert new == obfuscated_email(old, "example.com") and new != old
        else:
            assert new == old
    assert counts.emails == sum(isinstance(v, str) for v in before)
    assert counts.non_string_emails == sum(not isinstance(v, str) for v in before)


@given(ITEMS)
def test_everything_else_is_unchanged_and_the_input_is_not_touched(item):
    original = copy.deepcopy(item)
    result, _ = obfuscate_item(item, SETTINGS)
    assert item == original
    pk = item.get("pk")
    if isinstance(pk, str) and pk.startswith("user-email|"):
        result = {**result, "pk": pk}
    assert without_emails(result) == without_emails(item)


@given(ITEMS)
def test_same_input_same_output(item):
    assert obfuscate_item(item, SETTINGS) == obfuscate_item(copy.deepcopy(item), SETTINGS)


def test_the_seed_cases():
    item = {
        "pk": "user-email|Jane@Court.gov",
        "sk": "user|42",
        "email": "Jane@Court.gov",
        "contact": {"email": "jane@home.org", "phones": [{"email": "x@y.z", "n": Decimal(1)}]},
        "emails": ["not-an-email-key@list.com"],
    }
    result, counts = obfuscate_item(item, SETTINGS)
    hashed = obfuscated_email("Jane@Court.gov", "example.com")
    assert result["email"] == hashed and result["pk"] == "user-email|" + hashed
    assert result["contact"]["email"] == obfuscated_email("jane@home.org", "example.com")
    assert result["contact"]["phones"][0] == {"email": obfuscated_email("x@y.z", "example.com"), "n": Decimal(1)}
    assert result["emails"] == item["emails"] and result["sk"] == "user|42"
    assert (counts.emails, counts.prefixed, counts.non_string_emails) == (3, 1, 0)


def test_relations_survive_because_the_mapping_is_deterministic():
    user = obfuscate_item({"pk": "user-email|a@b.c"}, SETTINGS)[0]
    case = obfuscate_item({"pk": "case|1", "email": "a@b.c"}, SETTINGS)[0]
    assert user["pk"].removeprefix("user-email|") == case["email"]


@pytest.mark.parametrize("domain", ["", "a@b.com", "two words"])
def test_a_bad_domain_is_refused(domain):
    with pytest.raises(ValueError, match="domain"):
        ObfuscationSettings(domain=domain)
