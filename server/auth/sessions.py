"""Browser sessions: one signed, HttpOnly, SameSite=Lax cookie, and CSRF tokens derived from it.

The cookie holds ``{"n": nonce, "u": user or null, "e": session epoch}``
signed with the app secret (itsdangerous, with its issue time; older than
``session_hours`` is refused). Nothing else is kept in it. Signing out, a new
password or disabling a user bumps the user's epoch in the store, which ends
every older session of that user at once, on every device.

CSRF (synchroniser token): the token is ``HMAC(secret, nonce)``; pages put it
in a hidden ``csrf_token`` field of every form and in
``<meta name="csrf-token">`` for scripts (sent as ``X-CSRF-Token``). A new
nonce is issued at sign-in, so a token seen before sign-in is worthless after
it. Requests authenticated by ``Authorization: Bearer`` carry no cookie
authority and need no token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "planview_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


@dataclass
class Session:
    """The decoded cookie of this request (``issue`` set when the response must carry a new one)."""

    nonce: str
    user: str | None = None
    epoch: int = 0
    issue: bool = False
    clear: bool = False

    @classmethod
    def fresh(cls, user: str | None = None, epoch: int = 0) -> Session:
        return cls(nonce=secrets.token_urlsafe(18), user=user, epoch=epoch, issue=True)


class SessionCodec:
    def __init__(self, secret: str, max_age_s: int) -> None:
        self.secret = secret.encode()
        self.max_age_s = max_age_s
        self._serializer = URLSafeTimedSerializer(secret, salt="planview-session")

    def dumps(self, session: Session) -> str:
        return self._serializer.dumps({"n": session.nonce, "u": session.user, "e": session.epoch})

    def loads(self, text: str | None) -> Session | None:
        if not text or len(text) > 4096:
            return None
        try:
            data: Any = self._serializer.loads(text, max_age=self.max_age_s)
        except (BadSignature, ValueError, TypeError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("n"), str):
            return None
        user = data.get("u")
        epoch = data.get("e")
        return Session(nonce=data["n"], user=user if isinstance(user, str) else None,
                       epoch=epoch if isinstance(epoch, int) else 0)

    def csrf_token(self, session: Session) -> str:
        return hmac.new(self.secret, b"csrf:" + session.nonce.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: Session | None, token: str | None) -> bool:
        if session is None or not token:
            return False
        return hmac.compare_digest(self.csrf_token(session), token.strip())
