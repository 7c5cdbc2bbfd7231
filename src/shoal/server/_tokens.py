"""Bearer tokens for `shoal serve`: scopes per dataset, stored only as salted hashes.

A token reads ``shoal_<id>_<secret>``: the id finds its entry, the secret (32 random bytes)
is checked against the entry's salted SHA-256 in constant time. A random 256-bit secret
cannot be guessed, so a slow password hash would only slow every request. The file
(`shoal token create --tokens FILE`, default ~/.config/shoal/tokens.json) holds ids, salts,
hashes, names and scopes, never a token; it is written atomically with mode 0600 and read
again when it changes, so a revoked token stops working at once.

Scopes: ``read`` (searches and reads), ``write`` (also adds, updates, deletes, commits and
tags) and ``admin`` (also creating datasets and declaring indexed fields), each for a dataset
name or ``*`` (every dataset).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shoal._atomic import atomic_write
from shoal.errors import ConfigurationError, InvalidInput

__all__ = ["SCOPES", "Grant", "TokenStore", "default_tokens_path", "parse_scopes"]

SCOPES = ("read", "write", "admin")
"""Each scope includes the ones before it."""
_TOKEN = re.compile(r"shoal_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})")
_DATASET = re.compile(r"\*|[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def default_tokens_path() -> Path:
    """$SHOAL_TOKENS_FILE, else tokens.json in $XDG_CONFIG_HOME/shoal (~/.config/shoal)."""
    explicit = os.environ.get("SHOAL_TOKENS_FILE", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME", "").strip() or str(Path.home() / ".config")
    return Path(config) / "shoal" / "tokens.json"


def parse_scopes(values: list[str]) -> dict[str, str]:
    """``["docs:write", "*:read"]`` as ``{"docs": "write", "*": "read"}`` (InvalidInput if malformed)."""
    scopes: dict[str, str] = {}
    for value in values:
        dataset, _, scope = value.rpartition(":")
        if not _DATASET.fullmatch(dataset) or scope not in SCOPES:
            raise InvalidInput(
                f"scope {value!r} is not DATASET:SCOPE, with DATASET a dataset name or * and "
                f"SCOPE one of {', '.join(SCOPES)} (e.g. docs:write)"
            )
        scopes[dataset] = scope
    if not scopes:
        raise InvalidInput("a token needs at least one scope, e.g. --scope docs:read")
    return scopes


@dataclass(frozen=True)
class Grant:
    """What a verified token may do: its id, name and scopes."""

    id: str
    name: str
    scopes: Mapping[str, str]

    def allows(self, dataset: str, scope: str) -> bool:
        """Whether this token holds `scope` (or a wider one) on `dataset`."""
        held = [self.scopes.get(dataset), self.scopes.get("*")]
        rank = SCOPES.index(scope)
        return any(h is not None and SCOPES.index(h) >= rank for h in held)


class TokenStore:
    """The tokens file: create, list, revoke, and verify a presented token."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: dict[str, dict[str, Any]] = {}
        self._stamp: tuple[int, int] | None = None
        self._guard = threading.Lock()

    def exists(self) -> bool:
        """Whether the file exists (a server then requires tokens)."""
        return self.path.is_file()

    def create(self, name: str, scopes: Mapping[str, str]) -> str:
        """A new token (shown once: only its hash is kept)."""
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            raise InvalidInput("a token's name is 1 to 100 characters, e.g. --name ci")
        with self._guard:
            entries = self._read()
            token_id = secrets.token_hex(6)
            secret = secrets.token_urlsafe(32)
            salt = secrets.token_bytes(16)
            entries[token_id] = {
                "id": token_id,
                "name": name,
                "scopes": dict(scopes),
                "salt": salt.hex(),
                "hash": _digest(salt, secret),
                "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "revoked": None,
            }
            self._write(entries)
        return f"shoal_{token_id}_{secret}"

    def entries(self) -> list[dict[str, Any]]:
        """Every token's id, name, scopes, creation and revocation time (no hashes)."""
        with self._guard:
            entries = self._read()
        hidden = ("salt", "hash")
        return [{k: v for k, v in e.items() if k not in hidden} for e in entries.values()]

    def revoke(self, key: str) -> int:
        """Revoke the tokens with this id or name; how many were revoked (0: none matched)."""
        with self._guard:
            entries = self._read()
            now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            hits = [e for e in entries.values() if key in (e["id"], e["name"]) and not e["revoked"]]
            for entry in hits:
                entry["revoked"] = now
            if hits:
                self._write(entries)
        return len(hits)

    def verify(self, token: str) -> Grant | None:
        """The grant of a valid, unrevoked token; None for anything else."""
        match = _TOKEN.fullmatch(token or "")
        if match is None:
            return None
        with self._guard:
            entry = self._read().get(match.group(1))
        if entry is None or entry.get("revoked"):
            return None
        expected = str(entry.get("hash", ""))
        if not hmac.compare_digest(expected, _digest(bytes.fromhex(entry["salt"]), match.group(2))):
            return None
        return Grant(entry["id"], entry["name"], dict(entry["scopes"]))

    def _read(self) -> dict[str, dict[str, Any]]:
        """The entries, re-read when the file changed (a revocation by another process)."""
        try:
            status = self.path.stat()
        except FileNotFoundError:
            self._entries, self._stamp = {}, None
            return self._entries
        stamp = (status.st_mtime_ns, status.st_size)
        if stamp != self._stamp:
            try:
                data = json.loads(self.path.read_text())
                entries = {e["id"]: e for e in data["tokens"]}
            except (ValueError, KeyError, TypeError) as exc:
                raise ConfigurationError(
                    f"the tokens file {self.path} is damaged ({exc}); restore it, or delete it "
                    "and create the tokens again"
                ) from exc
            self._entries, self._stamp = entries, stamp
        return self._entries

    def _write(self, entries: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"format": 1, "tokens": list(entries.values())}, indent=1)

        atomic_write(self.path, lambda path: Path(path).write_text(text), mode=0o600)
        self._stamp = None  # read back on next use


def _digest(salt: bytes, secret: str) -> str:
    return hashlib.sha256(salt + secret.encode()).hexdigest()
