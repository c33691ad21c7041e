"""Tenants' secrets at rest: Fernet (AES-128-CBC with an HMAC-SHA256) under a key derived (SHA-256) from the
installation's secret: `secrets_key` when set (every process of a distributed installation must share it:
the Helm chart generates one), else `state_dir/secrets.key`, made once by whichever process needs it first."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken

from core.settings import Settings


class SecretUnreadable(Exception):
    """Sealed under another key (secrets_key changed, or another installation's row)."""


def _key(settings: Settings) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(_material(settings)).digest())


def _material(settings: Settings) -> bytes:
    if settings.secrets_key is not None and settings.secrets_key.get_secret_value():
        return settings.secrets_key.get_secret_value().encode()
    path = settings.state_dir / "secrets.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and linked into place: no process ever reads a half-written key.
        aside = path.with_name(f".secrets.key.{os.getpid()}")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(Fernet.generate_key())
        try:
            with contextlib.suppress(FileExistsError):  # another process made it first: theirs holds
                os.link(aside, path)
        finally:
            aside.unlink()
    return path.read_bytes().strip()


@lru_cache(maxsize=4)
def _fernet(key: bytes) -> Fernet:
    return Fernet(key)


def seal(settings: Settings, value: str) -> str:
    return _fernet(_key(settings)).encrypt(value.encode()).decode()


def unseal(settings: Settings, sealed: str) -> str:
    try:
        return _fernet(_key(settings)).decrypt(sealed.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("a secret sealed under another key (was secrets_key changed?)") from None
