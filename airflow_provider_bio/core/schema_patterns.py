"""JSON-schema ``pattern`` values that match a whole value, in Python and in JavaScript alike."""

from __future__ import annotations


def whole(body: str) -> str:
    """A JSON-schema ``pattern`` matching the whole value with ``body``, and nothing after it.

    JSON schema's ``pattern`` is a search, and in Python's ``re`` (which jsonschema uses) ``$``
    also matches before a trailing newline: ``^v6$`` accepts ``"v6\\n"``. ``\\Z`` is Python's
    end of string but not JavaScript's, so the end is written as "no character follows", which
    both engines read alike.
    """
    return rf"^(?:{body})(?![\s\S])"
