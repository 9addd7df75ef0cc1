"""Optional directory login: an LDAP simple bind as the user, roles from group membership (ldap3).

Configured by ``PLANVIEW_LDAP_*`` settings. The user's DN comes from
``ldap_user_dn`` with ``{name}`` filled in (escaped as an RDN value, so a name
cannot change the DN's structure). With ``ldap_group_base`` set, the bound
user's role is admin when they are a ``member``/``uniqueMember``/``memberUid``
of ``ldap_admin_group``, planner for ``ldap_planner_group``, else
``ldap_default_role``. A directory that cannot be reached is a
:class:`~geo.errors.StorageError` (503), not a wrong password.
"""

from __future__ import annotations

from dataclasses import dataclass

from geo.errors import StorageError
from layers.accounts import Role
from server.settings import Settings


def escape_rdn(value: str) -> str:
    """RFC 4514 escaping of an attribute value inside a DN."""
    out = []
    for i, ch in enumerate(value):
        if ch in ',+"\\<>;=' or (ch == "#" and i == 0) or (ch == " " and i in (0, len(value) - 1)):
            out.append("\\" + ch)
        elif ord(ch) < 32:
            out.append(f"\\{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def escape_filter(value: str) -> str:
    """RFC 4515 escaping of a value inside a search filter."""
    return "".join(f"\\{ord(c):02x}" if c in "*()\\\x00" else c for c in value)


@dataclass(frozen=True)
class LdapDirectory:
    url: str
    user_dn: str
    start_tls: bool
    group_base: str | None
    admin_group: str
    planner_group: str
    default_role: Role
    timeout_s: float

    def authenticate(self, name: str, password: str) -> Role | None:
        import ldap3
        from ldap3.core.exceptions import LDAPBindError, LDAPException, LDAPSocketOpenError

        if not password:
            return None  # an empty password would be an anonymous bind: never a login
        dn = self.user_dn.format(name=escape_rdn(name))
        server = ldap3.Server(self.url, connect_timeout=self.timeout_s)
        try:
            conn = ldap3.Connection(server, user=dn, password=password, receive_timeout=max(1, int(self.timeout_s)),
                                    raise_exceptions=False, read_only=True)
            if self.start_tls and not conn.start_tls():
                raise StorageError("目录服务 StartTLS 失败 / the directory refused StartTLS")
            if not conn.bind():
                return None
            try:
                return self._role(conn, name, dn)
            finally:
                conn.unbind()
        except LDAPBindError:
            return None
        except (LDAPSocketOpenError, LDAPException) as exc:
            raise StorageError("无法连接目录服务，请稍后再试 / the directory (LDAP) cannot be reached; try again later",
                               detail=str(exc)) from exc

    def _role(self, conn: object, name: str, dn: str) -> Role:
        if not self.group_base:
            return self.default_role
        for group, role in ((self.admin_group, Role.ADMIN), (self.planner_group, Role.PLANNER)):
            flt = (f"(&(cn={escape_filter(group)})(|(member={escape_filter(dn)})(uniqueMember={escape_filter(dn)})"
                   f"(memberUid={escape_filter(name)})))")
            if conn.search(self.group_base, flt, attributes=["cn"]) and conn.entries:  # type: ignore[attr-defined]
                return role
        return self.default_role


def directory_from(settings: Settings) -> LdapDirectory:
    assert settings.ldap_url  # noqa: S101 - only called when configured
    return LdapDirectory(url=settings.ldap_url, user_dn=settings.ldap_user_dn, start_tls=settings.ldap_start_tls,
                         group_base=settings.ldap_group_base, admin_group=settings.ldap_admin_group,
                         planner_group=settings.ldap_planner_group, default_role=Role.parse(settings.ldap_default_role),
                         timeout_s=settings.ldap_timeout_s)
