"""A small stand-in for OpenSearch/Elasticsearch's index and alias API, served by ``recording_server``.

It keeps indexes (each with a fresh uuid when created) and aliases, and answers the calls the
provider makes: ``PUT /<index>``, ``DELETE /<index>``, ``GET /<index>/_settings``,
``GET /_alias/<alias>`` and ``POST /_aliases``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeCluster:
    """Indexes (name -> uuid; ``created``: name -> creation date) and aliases (alias -> indexes).

    Every request is logged in ``events``.
    """

    indexes: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, set[str]] = field(default_factory=dict)
    events: list[tuple[str, str]] = field(default_factory=list)
    created: dict[str, str] = field(default_factory=dict)

    def create(self, name: str) -> None:
        self.indexes[name] = uuid.uuid4().hex
        self.created[name] = str(int(time.time() * 1000))  # fixed at creation, as a cluster's creation_date

    def delete(self, name: str) -> None:
        self.indexes.pop(name, None)
        for targets in self.aliases.values():
            targets.discard(name)

    def __call__(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        self.events.append((method, path))
        parts = path.strip("/").split("/")
        if method == "PUT" and len(parts) == 1:
            if parts[0] in self.indexes:
                return 400, {"error": {"type": "resource_already_exists_exception"}}
            self.create(parts[0])
            return 200, {"acknowledged": True}
        if method == "DELETE" and len(parts) == 1:
            self.delete(parts[0])
            return 200, {"acknowledged": True}
        if method == "GET" and parts[-1] == "_settings":
            name = parts[0]
            targets = sorted(self.aliases.get(name, set())) or ([name] if name in self.indexes else [])
            if not targets:
                return 404, {"error": {"type": "index_not_found_exception"}}
            return 200, {
                t: {"settings": {"index": {"uuid": self.indexes[t], "creation_date": self.created[t]}}} for t in targets
            }
        if method == "GET" and parts[0] == "_alias":
            targets = self.aliases.get(parts[1], set())
            return (200, {t: {"aliases": {parts[1]: {}}} for t in targets}) if targets else (404, {})
        if method == "POST" and parts == ["_aliases"]:
            for action in body["actions"]:
                ((kind, spec),) = action.items()
                targets = self.aliases.setdefault(spec["alias"], set())
                for index in spec.get("indices", [spec.get("index")]):
                    (targets.add if kind == "add" else targets.discard)(index)
            return 200, {"acknowledged": True}
        return 400, {"error": f"not served by the stand-in: {method} {path}"}
