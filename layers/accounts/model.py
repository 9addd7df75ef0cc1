"""Users, roles and API tokens: the records the account store keeps."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from geo.errors import InvalidInput

NAME_PATTERN = re.compile(r"^[\w.@-]{1,64}$")
EVERYONE = "*"  # share grantee meaning "everyone signed in"; never a user name


class Role(StrEnum):
    """What a user may do, each role including the one before it."""

    VIEWER = "viewer"
    PLANNER = "planner"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise InvalidInput(f"未知角色 {text!r}，可用 viewer、planner、admin / unknown role {text!r}; "
                               "use viewer, planner or admin") from None


def check_name(name: str) -> str:
    """A user name: 1–64 letters (any script), digits, ``. _ @ -``; never ``*``."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise InvalidInput("用户名须为 1–64 个字母、数字或 . _ @ - / a user name is 1-64 letters, digits or . _ @ -")
    return name


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    disabled: bool
    created: datetime
    source: str  # local | ldap | sso
    session_epoch: int  # bumped on logout, password reset, disable: every older session ends
    password_hash: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role.value, "disabled": self.disabled,
                "created": self.created.isoformat(), "source": self.source}


@dataclass(frozen=True)
class TokenInfo:
    """A personal API token as listed (the secret itself is shown once, at creation, and never stored)."""

    id: str
    user: str
    label: str
    created: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "user": self.user, "label": self.label, "created": self.created.isoformat()}
