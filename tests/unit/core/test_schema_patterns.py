"""JSON-schema patterns that match a whole value: nothing may follow, not even a newline."""

from __future__ import annotations

import re

import pytest

from airflow_provider_bio.core.schema_patterns import whole


def test_the_pattern_is_anchored_at_both_ends_without_dollar() -> None:
    assert whole("v[0-9]+") == r"^(?:v[0-9]+)(?![\s\S])"


@pytest.mark.parametrize(
    ("value", "matches"),
    [("v6", True), ("v6\n", False), ("v6 ", False), ("xv6", False), ("v6x", False), ("v", False), ("v66", True)],
)
def test_only_the_whole_value_matches(value: str, matches: bool) -> None:
    assert bool(re.search(whole("v[0-9]+"), value)) is matches


def test_an_alternation_applies_to_the_whole_value() -> None:
    pattern = whole("a|b")
    assert [bool(re.search(pattern, value)) for value in ("a", "b", "ab", "xb", "a\n")] == [
        True,
        True,
        False,
        False,
        False,
    ]
