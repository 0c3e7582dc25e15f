"""The email obfuscation applied to every item copied from production into a lower environment.

One pure function, used by both copy engines: the local engine calls it per item, and the Glue
script imports this module (shipped to Glue with the job), so the two cannot drift.

- Every map key named in ``email_keys``, at any depth of maps and lists, has its string value
  replaced by ``md5(value) + "@" + domain``.
- A top-level attribute named in ``prefixed_keys`` whose string value starts with the
  configured prefix (default: ``pk`` values starting ``user-email|``) keeps the prefix and has
  the rest rewritten the same way.

The mapping is deterministic, so relations between items (an email used as a key elsewhere)
survive. Values under an email key that are not strings are left alone and counted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_EMAIL_KEYS = ("email",)
DEFAULT_PREFIXED_KEYS = {"pk": "user-email|"}


@dataclass(frozen=True)
class ObfuscationSettings:
    """What to rewrite and how.

    :param domain: the domain of every obfuscated address, e.g. ``example.com``.
    :param email_keys: map keys whose values are email addresses, at any depth.
    :param prefixed_keys: top-level attribute -> prefix after which its value is an email.
    """

    domain: str
    email_keys: tuple[str, ...] = DEFAULT_EMAIL_KEYS
    prefixed_keys: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_PREFIXED_KEYS))

    def __post_init__(self) -> None:
        if not self.domain or "@" in self.domain or " " in self.domain:
            raise ValueError(f"obfuscation domain must be a bare domain such as example.com, got {self.domain!r}")
        if not self.email_keys and not self.prefixed_keys:
            raise ValueError("obfuscation needs email_keys or prefixed_keys: nothing would be obfuscated")


@dataclass
class ObfuscationCounts:
    """What the transform did, summed over items."""

    emails: int = 0
    prefixed: int = 0
    non_string_emails: int = 0

    def add(self, other: ObfuscationCounts) -> None:
        self.emails += other.emails
        self.prefixed += other.prefixed
        self.non_string_emails += other.non_string_emails


def obfuscated_email(value: str, domain: str) -> str:
    """The stand-in address for ``value``: ``md5(value)@domain`` (the same input, the same output)."""
    return f"{hashlib.md5(value.encode('utf-8'), usedforsecurity=False).hexdigest()}@{domain}"


def obfuscate_item(item: Mapping[str, Any], settings: ObfuscationSettings) -> tuple[dict[str, Any], ObfuscationCounts]:
    """Return an obfuscated copy of one item (the input is not changed) and what was rewritten."""
    counts = ObfuscationCounts()
    email_keys = frozenset(settings.email_keys)

    def walk(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {key: rewrite(key, inner) for key, inner in value.items()}
        if isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray)):
            return [walk(inner) for inner in value]
        return value

    def rewrite(key: Any, value: Any) -> Any:
        if key in email_keys:
            if isinstance(value, str):
                counts.emails += 1
                return obfuscated_email(value, settings.domain)
            counts.non_string_emails += 1
            return value
        return walk(value)

    result = walk(item)
    for key, prefix in settings.prefixed_keys.items():
        value = result.get(key)
        if isinstance(value, str) and value.startswith(prefix) and key not in email_keys:
            result[key] = prefix + obfuscated_email(value[len(prefix) :], settings.domain)
            counts.prefixed += 1
    return result, counts
