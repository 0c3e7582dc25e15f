"""The email transform: property-based over arbitrary nested items, plus one case per kind of leak.

Expected stand-ins are computed here with ``hmac`` (HMAC-SHA256 of the lower-cased address keyed
with the secret), never with the code under test.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import hmac
import re
import subprocess
import sys
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_bio.core.obfuscation import (
    ObfuscationCounts,
    ObfuscationSettings,
    addresses_outside,
    item_key,
    item_size,
    mask,
    obfuscate_item,
    pseudonym,
    too_large,
)

SECRET = b"a-test-secret-of-32-bytes-length"
SETTINGS = ObfuscationSettings(domain="example.com", secret=SECRET)


def stand_in(address: str) -> str:
    return hmac.new(SECRET, address.lower().encode(), hashlib.sha256).hexdigest() + "@example.com"


#: Any address-shaped text, for the properties (a simpler shape than the matcher's).
ADDRESSES = st.builds(
    "{}@{}.{}".format,
    st.text("abcxyzé0123456789._+-", min_size=1, max_size=8).filter(lambda s: s[0] not in "." and s[-1] != "."),
    st.text("abcdefghijklmnopqrstuvwxyzü0123456789", min_size=1, max_size=8),
    st.sampled_from(["gov", "org", "com", "de"]),
)
TEXT = st.builds(
    "".join, st.lists(st.one_of(ADDRESSES, st.sampled_from([" ", "|", "user-email|", "Note: ", ", ", "<", ">"])))
)
KEYS = st.one_of(st.sampled_from(["email", "Email", "pk", "sk", "gsi1pk", "contactInfo", "emails"]), TEXT)
SCALARS = st.one_of(
    TEXT,
    st.integers(),
    st.booleans(),
    st.none(),
    st.decimals(allow_nan=False, allow_infinity=False),
    TEXT.map(str.encode),
    st.binary(max_size=8).filter(lambda raw: b"@" not in raw),  # an "@" here is no address: RAW would flag it
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(KEYS, inner, max_size=4)
        | st.sets(TEXT, max_size=3)
        | st.sets(TEXT.map(str.encode), max_size=3)
    ),
    max_leaves=15,
)
ITEMS = st.dictionaries(KEYS, VALUES, max_size=6)
RAW = re.compile(r"@(?!example\.com)")  # every @ left is a stand-in's


def shape(value):
    """The item's types, recursively (what the transform must keep)."""
    if isinstance(value, dict):
        return ("dict", len(value))
    if isinstance(value, (list, set)):
        return (type(value).__name__, sorted(repr(shape(inner)) for inner in value))
    return type(value).__name__


def strings(value):
    """Every string, map key and decodable binary in ``value``."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from strings(inner)
    elif isinstance(value, (list, set)):
        for inner in value:
            yield from strings(inner)
    elif isinstance(value, bytes):
        with contextlib.suppress(UnicodeDecodeError):
            yield value.decode("utf-8")
    elif isinstance(value, str):
        yield value


@settings(max_examples=150, deadline=None)
@given(ITEMS)
def test_no_address_survives_and_types_are_kept(item):
    original = copy.deepcopy(item)
    result, _ = obfuscate_item(item, SETTINGS)
    assert item == original
    assert not [text for text in strings(result) if RAW.search(text)]
    if len({k.lower() for k in item}) == len(item) == len(result):  # no two keys merged into one
        assert shape(result) == shape(item)


@settings(max_examples=100, deadline=None)
@given(ITEMS)
def test_same_input_same_output(item):
    assert obfuscate_item(item, SETTINGS) == obfuscate_item(copy.deepcopy(item), SETTINGS)


def test_the_stand_in_is_an_hmac_sha256_of_the_address_keyed_with_the_secret():
    result, counts = obfuscate_item({"email": "Jane@Court.gov"}, SETTINGS)
    expected = hmac.new(SECRET, b"jane@court.gov", hashlib.sha256).hexdigest()
    assert result == {"email": f"{expected}@example.com"} and counts.emails == 1
    other = ObfuscationSettings(domain="example.com", secret=b"another-secret-of-32-bytes-long!")
    assert obfuscate_item({"email": "Jane@Court.gov"}, other)[0] != result  # not a plain hash


@pytest.mark.parametrize("secret", [b"", b"short"])
def test_no_secret_no_settings(secret):
    with pytest.raises(ValueError, match="secret"):
        ObfuscationSettings(domain="example.com", secret=secret)


def test_sets_lists_and_maps_under_email_keys():
    item = {
        "email": {"jane@court.gov", "joe@court.gov"},
        "emails": ["a@home.org", {"email": "b@home.org"}],
        "contact": {"email": {"work": "c@court.gov", "old": ["d@court.gov"]}},
    }
    result, counts = obfuscate_item(item, SETTINGS)
    assert result == {
        "email": {stand_in("jane@court.gov"), stand_in("joe@court.gov")},
        "emails": [stand_in("a@home.org"), {"email": stand_in("b@home.org")}],
        "contact": {"email": {"work": stand_in("c@court.gov"), "old": [stand_in("d@court.gov")]}},
    }
    assert counts.emails == 6


def test_non_addresses_in_sets_and_lists_under_email_keys_are_replaced_whole():
    item = {"email": {"jane at court"}, "contact": {"email": ["joe at home", ("ann at work",)]}}
    result, counts = obfuscate_item(item, SETTINGS)
    assert result == {
        "email": {stand_in("jane at court")},
        "contact": {"email": [stand_in("joe at home"), (stand_in("ann at work"),)]},
    }
    assert counts.emails == 3


def test_key_attributes_and_gsi_keys_are_rewritten_alike_whatever_the_prefix_case():
    item = {
        "pk": "user-email|Jane@Court.gov",
        "sk": "USER-EMAIL|jane@court.gov",
        "gsi1pk": "User-Email|JANE@COURT.GOV",
        "gsi2sk": "case|42|user-email|jane@court.gov",
    }
    result, _ = obfuscate_item(item, SETTINGS)
    jane = stand_in("jane@court.gov")
    assert result == {
        "pk": f"user-email|{jane}",
        "sk": f"USER-EMAIL|{jane}",
        "gsi1pk": f"User-Email|{jane}",
        "gsi2sk": f"case|42|user-email|{jane}",
    }


@pytest.mark.parametrize(
    "name", ["EMAIL", "Email", "pendingEmail", "serviceEmail", "alternateEmail", "emailAddress", "notify"]
)
def test_addresses_under_any_attribute_name(name):
    item = {name: "jane@court.gov", "contactInfo": {name: "joe@home.org", "phone": "555"}}
    result, _ = obfuscate_item(item, SETTINGS)
    assert result == {
        name: stand_in("jane@court.gov"),
        "contactInfo": {name: stand_in("joe@home.org"), "phone": "555"},
    }


def test_free_text_keeps_its_words():
    item = {"notes": "Served on Jane <jane@court.gov>, cc joe.doe+x@home.org. Done."}
    result, counts = obfuscate_item(item, SETTINGS)
    expected = f"Served on Jane <{stand_in('jane@court.gov')}>, cc {stand_in('joe.doe+x@home.org')}. Done."
    assert result == {"notes": expected} and counts.emails == 2


def test_map_keys_and_set_members_under_any_name():
    item = {"serviceList": {"jane@court.gov": {"served": True}}, "parties": {"x", "joe@home.org"}}
    result, _ = obfuscate_item(item, SETTINGS)
    assert result == {
        "serviceList": {stand_in("jane@court.gov"): {"served": True}},
        "parties": {"x", stand_in("joe@home.org")},
    }


def test_binary_that_decodes_as_text_stays_binary():
    item = {"blob": b"to: jane@court.gov", "raw": b"\xff\xfe@\x00", "blobs": {b"a@b.c", b"\x00"}}
    result, _ = obfuscate_item(item, SETTINGS)
    assert result["blob"] == f"to: {stand_in('jane@court.gov')}".encode() and isinstance(result["blob"], bytes)
    assert result["raw"] == b"\xff\xfe@\x00"
    assert result["blobs"] == {stand_in("a@b.c").encode(), b"\x00"}


@pytest.mark.parametrize(
    "address", ["jörg.müller@bücher.de", "用户@例子.广告", "josé@correo.es", "jo\u0308rg@court.gov"]
)
def test_unicode_addresses(address):
    result, _ = obfuscate_item({"note": f"write to {address} today"}, SETTINGS)
    assert result == {"note": f"write to {stand_in(address)} today"}


def test_a_non_address_under_an_email_key_is_replaced_whole():
    result, _ = obfuscate_item({"email": "jane at court dot gov", "Email": "", "name": "Jane"}, SETTINGS)
    assert result == {"email": stand_in("jane at court dot gov"), "Email": "", "name": "Jane"}


def test_numbers_and_other_values_are_kept():
    item = {"n": Decimal("1.5"), "ok": True, "none": None, "ids": {Decimal(1), Decimal(2)}}
    assert obfuscate_item(item, SETTINGS)[0] == item


def test_addresses_outside_the_domain_are_found_by_path_never_shown():
    item = {
        "pk": "case|1",
        "ok": stand_in("a@b.c"),
        "contact": {"emails": ["x", "jane@court.gov"], "joe@home.org": 1},
        "blob": b"k@l.m",
    }
    paths = sorted(addresses_outside(item, "example.com"))
    assert paths == ["blob", "contact.<address>", "contact.emails[1]"]
    assert not any("@" in path for path in paths)


def test_an_item_over_400_kb():
    assert too_large({"pk": "x", "body": "a" * 400 * 1024}) and not too_large({"pk": "x", "body": "a" * 399_000})


@pytest.mark.parametrize("domain", ["", "a@b.com", "two words"])
def test_a_bad_domain_is_refused(domain):
    with pytest.raises(ValueError, match="domain"):
        ObfuscationSettings(domain=domain, secret=SECRET)


#: Pseudonyms for SECRET, computed once by hand with
#: ``hmac.new(SECRET, address.lower().encode(), hashlib.sha256).hexdigest()`` and pasted here, so a
#: salt, a different digest or a different key construction changes them.
PINNED = {
    "Jane.Doe@Example.GOV": "6d6f3b759f9a75869ebb7c9f4602417fc08e99bcc745f6d558babfd43f4da187@example.com",
    "jane.doe@example.gov": "6d6f3b759f9a75869ebb7c9f4602417fc08e99bcc745f6d558babfd43f4da187@example.com",
    "petitioner@court.org": "7bdcc44f3e356c63e6d4df9522943a55fc371c52f20ed8b6e5242ca50729dd52@example.com",
}


@pytest.mark.parametrize(("address", "expected"), PINNED.items())
def test_pseudonyms_are_pinned_for_a_fixed_secret(address, expected):
    assert pseudonym(address, SETTINGS) == expected
    assert obfuscate_item({"email": address}, SETTINGS)[0] == {"email": expected}


def test_pseudonyms_are_the_same_in_separate_processes():
    script = (
        "from airflow_provider_bio.core.obfuscation import ObfuscationSettings, pseudonym;"
        f"print(pseudonym('petitioner@court.org', ObfuscationSettings(domain='example.com', secret={SECRET!r})))"
    )
    runs = [
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
        for _ in range(2)
    ]
    outputs = [run.stdout.strip() for run in runs]
    assert outputs == [PINNED["petitioner@court.org"]] * 2


JANE_AT_COURT = "1f0b3d7449497c139f24ff6a9fc2285a7825cefc82cec39a3da2aea6d3c18b93@example.com"  # "jane at court"
A_AT_B = "1b58eb36b1fc42189a5156857c22539bd943c60157c8b4b4b7f0c2433bc7df1c@example.com"  # "a@b.org"
D_AT_E = "fb3ac3c3d21bf33bcb0b60b70d85ac78cfc6cd2c97a99d29032d05562d2854a5@example.com"  # "d@e.org"


def test_a_secret_of_16_bytes_is_enough_and_15_is_not():
    assert ObfuscationSettings(domain="example.com", secret=b"sixteen-bytes-ok").secret == b"sixteen-bytes-ok"
    message = (
        r"^the obfuscation secret must be at least 16 bytes: without one the pseudonyms could be reversed by "
        r"hashing candidate addresses$"
    )
    with pytest.raises(ValueError, match=message):
        ObfuscationSettings(domain="example.com", secret=b"fifteen-bytes!!")


def test_a_subdomain_is_a_domain_and_the_refusal_quotes_the_value():
    assert ObfuscationSettings(domain="mail.example-1.org", secret=SECRET).domain == "mail.example-1.org"
    with pytest.raises(ValueError, match=r"^obfuscation domain must be a bare domain such as example.com, got 'x\.'$"):
        ObfuscationSettings(domain="x.", secret=SECRET)


def test_email_keys_can_be_named_and_are_compared_in_any_case():
    custom = ObfuscationSettings(domain="example.com", email_keys=("Contact",), secret=SECRET)
    result, counts = obfuscate_item({"CONTACT": "jane at court", "email": "jane at court"}, custom)
    assert result == {"CONTACT": JANE_AT_COURT, "email": "jane at court"}
    assert counts.emails == 1


def test_counts_are_one_per_address_and_one_per_whole_replacement():
    item = {"email": "a@b.org, d@e.org", "other": {"email": ["jane at court"]}, "note": "none here"}
    result, counts = obfuscate_item(item, SETTINGS)
    assert result == {"email": f"{A_AT_B}, {D_AT_E}", "other": {"email": [JANE_AT_COURT]}, "note": "none here"}
    assert counts.emails == 3
    total = ObfuscationCounts(emails=2)
    total.add(counts)
    assert total.emails == 5


def test_tuples_frozensets_bytearrays_and_other_keys_keep_their_types():
    item = {
        "t": ("a@b.org", "x"),
        "f": frozenset({"d@e.org"}),
        "ba": bytearray(b"to a@b.org"),
        "same": bytearray(b"no address"),
        7: {"email": b"jane at court"},  # binary under an email key is no address: kept
    }
    result, counts = obfuscate_item(item, SETTINGS)
    assert result == {
        "t": (A_AT_B, "x"),
        "f": frozenset({D_AT_E}),
        "ba": bytearray(f"to {A_AT_B}".encode()),
        "same": bytearray(b"no address"),
        7: {"email": b"jane at court"},
    }
    assert (type(result["t"]), type(result["f"]), type(result["ba"])) == (tuple, frozenset, bytearray)
    assert counts.emails == 3


def test_addresses_outside_name_nested_paths_and_each_leak_once():
    item = {
        "a": {"b": [("x", "p@q.org and r@s.org")]},
        "ok": ["X@EXAMPLE.COM"],
        "s": {"t@u.org"},
        "raw": b"\xff@\xfe",
        "map": {"k@l.org": {"v@w.org": "fine"}},
        3: "n@m.org",
    }
    assert sorted(addresses_outside(item, "Example.com")) == [
        "3",
        "a.b[0][1]",
        "a.b[0][1]",
        "map.<address>",
        "map.<address>.<address>",
        "s[0]",
    ]
    assert list(addresses_outside({"k@l.org": 1}, "example.com")) == ["<address>"]
    assert list(addresses_outside("a@b.org", "example.com", "top")) == ["top"]
    assert list(addresses_outside(12, "example.com")) == []


def test_a_chained_address_ending_in_the_stand_in_domain_is_still_a_leak():
    """``jane@court.gov@example.com`` carries a production address, whatever its last domain."""
    item = {"note": "jane@court.gov@example.com", "jane@court.gov@example.com": 1}
    assert sorted(addresses_outside(item, "example.com")) == ["<address>", "note"]
    assert mask("from jane@court.gov@example.com", "example.com") == "from <address>"


def test_mask_hides_only_addresses_outside_the_domain():
    assert mask("a@b.org wrote to X@Example.COM", "example.com") == "<address> wrote to X@Example.COM"
    assert mask("no address", "example.com") == "no address"


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("é", 2),
        (b"abc", 3),
        (bytearray(b"ab"), 2),
        (True, 1),
        (None, 1),
        (7, 21),
        (1.5, 21),
        (Decimal("123.45"), 21),
        ({"ab": 1}, 27),  # 3, then name 2 + number 21 + 1
        ({"a", "bb"}, 3),  # a set counts its members only
        (("a", None), 7),  # 3, then (1 + 1) twice
        (["é"], 6),
        (object.__new__(type("Odd", (), {"__str__": lambda self: "odd!"})), 4),
    ],
)
def test_item_size_counts_as_dynamodb_does(value, size):
    assert item_size(value) == size


def test_an_item_of_exactly_400_kb_fits():
    assert not too_large({"pk": "a" * (400 * 1024 - 2)})  # name 2 bytes, value the rest
    assert too_large({"pk": "a" * (400 * 1024 - 1)})


def test_an_item_is_named_by_its_key_attributes_with_addresses_masked():
    item = {"pk": "user-email|jane@court.gov", "sk": 3, "other": "x"}
    assert item_key(item, ("pk", "sk", "gone"), "example.com") == "pk=user-email|<address>, sk=3, gone=None"
