"""The sandbox's handle registry: what its Handle proxy resolves and its Handle server administers.

Alma's profile run (Ex Libris's hosted server) and the institution's own Handle server admin API
both write here; the proxy ``/api/handles/{handle}`` reads from here. Handles are ASCII
case-insensitive (``handles.syntax.handle_key``), case preserved as first written. A deleted handle
keeps its record (seed 003) but no longer resolves.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from handles.syntax import handle_key


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class HandleEntry:
    handle: str
    values: list[
        dict[str, Any]
    ]  # Handle JSON values: {"index","type","data":{"format","value"},"ttl","timestamp"}
    deleted: bool = False
    source: str = "alma"  # alma | server
    history: list[str] = field(default_factory=list)

    def url(self) -> str | None:
        for value in sorted(self.values, key=lambda v: v.get("index", 0)):
            if value.get("type") == "URL":
                return str(value["data"]["value"])
        return None


def url_value(url: str, index: int = 1, ttl: int = 86400) -> dict[str, Any]:
    return {
        "index": index,
        "type": "URL",
        "data": {"format": "string", "value": url},
        "ttl": ttl,
        "timestamp": _now(),
    }


def admin_value(prefix: str) -> dict[str, Any]:
    return {
        "index": 100,
        "type": "HS_ADMIN",
        "data": {
            "format": "admin",
            "value": {"handle": f"0.NA/{prefix}", "index": 200, "permissions": "011111111111"},
        },
        "ttl": 86400,
        "timestamp": _now(),
    }


class HandleRegistry:
    """Thread-safe store of handle records."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._entries: dict[str, HandleEntry] = {}

    def get(self, handle: str) -> HandleEntry | None:
        """The live (not deleted) record, or None."""
        with self._lock:
            entry = self._entries.get(handle_key(handle))
            return entry if entry and not entry.deleted else None

    def get_any(self, handle: str) -> HandleEntry | None:
        """The record, deleted or not."""
        with self._lock:
            return self._entries.get(handle_key(handle))

    def put(self, handle: str, values: list[dict[str, Any]], *, source: str) -> tuple[HandleEntry, bool]:
        """Create or replace the whole record; returns (entry, created)."""
        with self._lock:
            key = handle_key(handle)
            old = self._entries.get(key)
            created = old is None or old.deleted
            name = old.handle if old else handle
            entry = HandleEntry(
                handle=name,
                values=list(values),
                source=source,
                history=(old.history if old else []) + [f"{_now()} put by {source}"],
            )
            self._entries[key] = entry
            return entry, created

    def set_url(self, handle: str, url: str, *, source: str, prefix: str | None = None) -> HandleEntry:
        """Point ``handle`` at ``url`` (creating it with an HS_ADMIN value when new)."""
        with self._lock:
            entry = self.get(handle)
            if entry is None:
                values = [url_value(url)]
                if prefix:
                    values.append(admin_value(prefix))
                return self.put(handle, values, source=source)[0]
            others = [v for v in entry.values if v.get("type") != "URL"]
            return self.put(entry.handle, [url_value(url), *others], source=source)[0]

    def delete(self, handle: str) -> bool:
        """Mark deleted (the record is kept); False when missing or already deleted."""
        with self._lock:
            entry = self.get(handle)
            if entry is None:
                return False
            entry.deleted = True
            entry.history.append(f"{_now()} deleted")
            return True

    def list(self, prefix: str | None = None) -> list[HandleEntry]:
        with self._lock:
            entries = [e for e in self._entries.values() if not e.deleted]
        if prefix:
            entries = [e for e in entries if handle_key(e.handle).startswith(handle_key(prefix) + "/")]
        return sorted(entries, key=lambda e: handle_key(e.handle))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
