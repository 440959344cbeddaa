"""Client secrets: generated random, stored only as Argon2id hashes (RFC 9106)."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Server-to-server secrets are 256-bit random values, so a lighter Argon2 cost than for human
# passwords keeps token issuance fast without weakening anything (RFC 9106, section 4).
_HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)


def new_client_id() -> str:
    return secrets.token_hex(16)


def new_secret() -> str:
    return "p8e-" + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return _HASHER.hash(secret)


def verify_secret(secret_hash: str, secret: str) -> bool:
    try:
        return _HASHER.verify(secret_hash, secret)
    except (VerificationError, InvalidHashError):
        return False
