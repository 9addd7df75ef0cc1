"""Password hashing (argon2id, memory-hard) and API tokens (random; only a SHA-256 of the secret is stored).

A token looks like ``pv_<id>_<secret>``: the id finds the row, the secret is
compared by its hash in constant time. Tokens carry 256 bits of randomness,
so a fast hash is enough for them; passwords are human-chosen and get argon2.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from geo.errors import InvalidInput

# OWASP's argon2id minimum (19 MiB, t=2, p=1): memory-hard, ~30 ms per login on this class of machine.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
TOKEN_PATTERN = re.compile(r"^pv_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
# Verified against when the user does not exist, so a missing account costs the same time as a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


def check_password_policy(password: str) -> str:
    if len(password) < MIN_PASSWORD or len(password) > MAX_PASSWORD:
        raise InvalidInput(f"密码长度须为 {MIN_PASSWORD}–{MAX_PASSWORD} 个字符 / a password is "
                           f"{MIN_PASSWORD}-{MAX_PASSWORD} characters")
    return password


def hash_password(password: str) -> str:
    return _HASHER.hash(check_password_policy(password))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; a missing hash still spends the time of one verification."""
    if len(password) > MAX_PASSWORD:
        return False
    try:
        return _HASHER.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_password() -> str:
    return secrets.token_urlsafe(15)


@dataclass(frozen=True)
class NewToken:
    id: str
    secret_hash: str
    text: str  # shown once to its owner


def new_token() -> NewToken:
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return NewToken(id=token_id, secret_hash=hash_secret(secret), text=f"pv_{token_id}_{secret}")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_token(text: str) -> tuple[str, str] | None:
    """(id, secret hash) of a well-formed token, else None."""
    match = TOKEN_PATTERN.match(text.strip())
    if not match:
        return None
    return match.group(1), hash_secret(match.group(2))


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
