"""Sign-in tokens: a few fields and an HMAC-SHA256 over them with the server's signing key.

The key is 32 random bytes in `<runs>/.class/secret`, readable by the server's user only, made
on the first sign-in, so a token holds across reloads, tabs and server restarts. A token that is
not ASCII, not two parts, or whose signature does not hold reads as no token at all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any

from cifar.errors import RunError, os_errors_as
from cifar.runs.audit import class_lock
from cifar.runs.layout import ClassFiles

MAX_TOKEN_CHARACTERS = 2000


def signing_key(runs: Path, create: bool = False) -> bytes | None:
    """The server's signing key; with `create`, made where there is none (whole or not at all).

    Raises:
        RunError: with `create`, the runs folder cannot be written.
    """
    path = ClassFiles(runs).secret
    key = _read_key(path)
    if key is not None or not create:
        return key
    writable = "check that the runs folder is writable"
    with os_errors_as(RunError, "Could not keep the sign-in key", writable), class_lock(runs):
        key = _read_key(path)  # another sign-in may have made it meanwhile
        if key is None:
            # A key read half-written would sign tokens that no longer hold: write, then rename.
            temporary = path.with_name(f".secret-{secrets.token_hex(4)}")
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(32))
            os.replace(temporary, path)
            key = _read_key(path)
    return key


def _read_key(path: Path) -> bytes | None:
    try:
        key = bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return key if len(key) == 32 else None


def class_id(key: bytes, role: str, secret: str) -> str:
    """What ties a token to this class: a new class code (or teacher password) voids the old
    tokens. Keyed, so a token gives no way to guess the code or password offline."""
    return hmac.new(key, f"{role}:{secret}".encode(), hashlib.sha256).hexdigest()[:32]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def sign(key: bytes, fields: dict[str, Any]) -> str:
    """A token carrying `fields` (JSON), signed with `key`."""
    body = _b64(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode())
    return f"{body}.{_b64(hmac.new(key, body.encode(), hashlib.sha256).digest())}"


def read_token(token: Any, key: bytes | None) -> dict[str, Any] | None:
    """A token's fields when its signature holds under `key`; None for anything else (never raises)."""
    if key is None or not isinstance(token, str) or len(token) > MAX_TOKEN_CHARACTERS or not token.isascii():
        return None
    if token.count(".") != 1:
        return None
    body, signature = token.split(".")
    expected = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        return None
    try:
        fields = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, UnicodeError):
        return None
    return fields if isinstance(fields, dict) else None
