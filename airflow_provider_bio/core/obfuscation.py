"""The email obfuscation applied to every item copied from production into a lower environment.

One pure module, used by both copy engines: the local engine calls it per item, and the Glue
script imports it (shipped to Glue with the job), so the two cannot drift.

- Every address-shaped substring (:data:`ADDRESS`, Unicode addresses included) of every string,
  map key (attribute names included), set member and list member, at any depth, in every
  attribute (key attributes and GSI keys included), and of every binary value that decodes as
  UTF-8 text, becomes ``hmac_sha256(secret, address.lower()).hex() + "@" + domain``. The text
  around it is kept, and so is every value's type (a set stays a set, binary stays binary).
- A non-empty string under a key named in ``email_keys`` (any depth, any case) that holds no
  address-shaped substring is replaced whole the same way (``"jane at court"`` is an address too).

The mapping is keyed and deterministic: the same address (in any case) gets the same pseudonym in
every attribute and every run with the same secret, so an item's key, its GSI keys and the items
that refer to it stay consistent, while nobody without the secret can test a guessed address
against a pseudonym (an unkeyed hash is reversed with a list of candidate addresses).

:func:`addresses_outside` is the post-copy check: it uses the same matcher to find any address
left whose domain is not the stand-in domain.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

DEFAULT_EMAIL_KEYS = ("email",)
#: DynamoDB's largest item, in bytes.
MAX_ITEM_BYTES = 400 * 1024
#: Shortest secret accepted: shorter ones can be guessed along with the addresses.
MIN_SECRET_BYTES = 16

# Combining marks (an address in decomposed Unicode form keeps its accents inside the match).
_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_LOCAL = rf"[\w{_MARKS}.+%!#$&*?^{{}}~-]+"
_DOMAIN = rf"[\w{_MARKS}-]+(?:\.[\w{_MARKS}-]+)*"
#: The one matcher of an address: a local part, ``@``, a domain (letters of any script); a chain
#: such as ``a@b.org@c.org`` is one match, so no ``@domain`` is ever left behind. Not part of an
#: address: ``|`` (key prefixes such as ``user-email|``), quotes, ``/``, ``=``, ``<>``, spaces.
ADDRESS = re.compile(rf"{_LOCAL}(?:@{_DOMAIN})+")


@dataclass(frozen=True)
class ObfuscationSettings:
    """What to rewrite and how.

    :param domain: the domain of every stand-in address, e.g. ``example.com``.
    :param email_keys: map keys (any depth, compared case-insensitively) whose non-empty strings
        are replaced whole even when they hold nothing shaped like an address.
    :param secret: the HMAC key (at least 16 bytes); the same secret gives the same pseudonyms.
    """

    domain: str
    email_keys: tuple[str, ...] = DEFAULT_EMAIL_KEYS
    secret: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        if not self.domain or not re.fullmatch(_DOMAIN, self.domain):
            raise ValueError(f"obfuscation domain must be a bare domain such as example.com, got {self.domain!r}")
        if len(self.secret) < MIN_SECRET_BYTES:
            raise ValueError(
                f"the obfuscation secret must be at least {MIN_SECRET_BYTES} bytes: without one the "
                "pseudonyms could be reversed by hashing candidate addresses"
            )


@dataclass
class ObfuscationCounts:
    """What the transform did, summed over items."""

    emails: int = 0

    def add(self, other: ObfuscationCounts) -> None:
        self.emails += other.emails


def pseudonym(address: str, settings: ObfuscationSettings) -> str:
    """The stand-in address for ``address``: ``hmac_sha256(secret, address.lower()).hex()@domain``."""
    digest = hmac.new(settings.secret, address.lower().encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{digest}@{settings.domain}"


def obfuscate_item(item: Mapping[str, Any], settings: ObfuscationSettings) -> tuple[dict[str, Any], ObfuscationCounts]:
    """Return an obfuscated copy of one item (the input is not changed) and what was rewritten."""
    counts = ObfuscationCounts()
    email_keys = frozenset(key.lower() for key in settings.email_keys)

    def replace(match: re.Match[str]) -> str:
        counts.emails += 1
        return pseudonym(match.group(), settings)

    def text(value: str, whole: bool) -> str:
        rewritten = ADDRESS.sub(replace, value)
        if whole and rewritten == value and value:
            counts.emails += 1
            return pseudonym(value, settings)
        return rewritten

    def walk(value: Any, whole: bool) -> Any:
        if isinstance(value, str):
            return text(value, whole)
        if isinstance(value, (bytes, bytearray)):
            try:
                decoded = bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                return value
            rewritten = ADDRESS.sub(replace, decoded)
            return value if rewritten == decoded else type(value)(rewritten.encode("utf-8"))
        if isinstance(value, Mapping):
            return {
                text(key, False) if isinstance(key, str) else key: walk(
                    inner, whole or (isinstance(key, str) and key.lower() in email_keys)
                )
                for key, inner in value.items()
            }
        if isinstance(value, (set, frozenset)):
            return type(value)(walk(inner, whole) for inner in value)
        if isinstance(value, (list, tuple)):
            return type(value)(walk(inner, whole) for inner in value)
        return value

    return walk(item, False), counts


def addresses_outside(value: Any, domain: str, path: str = "") -> Iterator[str]:
    """Yield the path of every address found in ``value`` whose domain is not ``domain``.

    Paths name attributes as ``contact.emails[2]``; a map key holding an address is shown as
    ``<key>``, so a path never contains an address.
    """

    def leaks(text: str) -> int:
        return sum(not _in_domain(match.group(), domain) for match in ADDRESS.finditer(text))

    if isinstance(value, str):
        yield from [path] * leaks(value)
    elif isinstance(value, (bytes, bytearray)):
        try:
            yield from [path] * leaks(bytes(value).decode("utf-8"))
        except UnicodeDecodeError:
            return
    elif isinstance(value, Mapping):
        for key, inner in value.items():
            named = mask(str(key), domain)
            if isinstance(key, str):
                yield from [f"{path}.{named}" if path else named] * leaks(key)
            yield from addresses_outside(inner, domain, f"{path}.{named}" if path else named)
    elif isinstance(value, (set, frozenset, list, tuple)):
        for index, inner in enumerate(value):
            yield from addresses_outside(inner, domain, f"{path}[{index}]")


def mask(text: str, domain: str) -> str:
    """``text`` with every address outside ``domain`` shown as ``<address>``, for logs and errors."""
    return ADDRESS.sub(lambda m: m.group() if _in_domain(m.group(), domain) else "<address>", text)


def _in_domain(address: str, domain: str) -> bool:
    """Whether an :data:`ADDRESS` match is one address of ``domain``.

    Everything after the first ``@`` is compared, so a chain such as ``jane@court.gov@example.com``
    is outside ``example.com``: it still carries ``jane@court.gov``.
    """
    return address.partition("@")[2].lower() == domain.lower()


def item_size(value: Any) -> int:
    """An upper bound of the size DynamoDB counts for an item (or a value), in bytes.

    Strings and binary count their bytes, attribute names theirs, numbers at most 21 bytes,
    booleans and nulls one, and every list and map 3 bytes plus one per element.
    """
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, (int, float, Decimal)):
        return 21
    if isinstance(value, Mapping):
        return 3 + sum(item_size(key) + item_size(inner) + 1 for key, inner in value.items())
    if isinstance(value, (set, frozenset)):
        return sum(item_size(inner) for inner in value)
    if isinstance(value, (list, tuple)):
        return 3 + sum(item_size(inner) + 1 for inner in value)
    return len(str(value).encode("utf-8"))


def too_large(item: Mapping[str, Any]) -> bool:
    """Whether DynamoDB would refuse ``item`` (a top-level item: names plus values) as over 400 KB."""
    return sum(item_size(name) + item_size(value) for name, value in item.items()) > MAX_ITEM_BYTES


def item_key(item: Mapping[str, Any], key_attributes: tuple[str, ...], domain: str) -> str:
    """How an item is named in logs and errors: its key attributes, any stray address masked."""
    return mask(", ".join(f"{name}={item.get(name)!s}" for name in key_attributes), domain)
