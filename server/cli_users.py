"""``planview users …`` and ``planview audit verify``: accounts and the audit trail from the command line.

Every change is written to the audit trail with the operating-system user as
``cli:<name>`` and the address ``localhost``.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from geo.errors import InvalidInput
from layers.accounts import AccountStore, Role, create_token, hash_password, open_accounts
from layers.accounts.credentials import check_password_policy
from layers.audit import AuditTrail, Entry, open_audit
from server.auth.state import environment_actor
from server.settings import Settings


def _stores(settings: Settings) -> tuple[AccountStore, AuditTrail]:
    args = {"gpkg_path": settings.workspace_gpkg, "database_url": settings.database_url}
    return open_accounts(**args), open_audit(**args)  # type: ignore[arg-type]


def _audit(trail: AuditTrail, action: str, details: dict[str, object], outcome: str = "ok") -> None:
    trail.append(Entry(actor=environment_actor(), address="localhost", action=action,
                       target="planview users", details=details, outcome=outcome))


def read_password(prompt: str = "密码 / password: ") -> str:
    """From the terminal (asked twice, not echoed) or the first line of stdin when it is not a terminal."""
    if sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if getpass.getpass("再次输入 / again: ") != first:
            raise InvalidInput("两次输入的密码不一致 / the passwords differ")
        return check_password_policy(first)
    return check_password_policy(sys.stdin.readline().rstrip("\r\n"))


def run_users(args: argparse.Namespace, settings: Settings) -> int:
    accounts, trail = _stores(settings)
    command = args.users_command
    if command == "list":
        for u in accounts.list_users():
            state = "disabled" if u.disabled else "active"
            print(f"{u.name}\t{u.role.value}\t{u.source}\t{state}\t{u.created.isoformat(timespec='seconds')}")
        return 0
    if command == "add":
        role = Role.parse(args.role)
        accounts.add_user(args.name, role, hash_password(read_password()))
        _audit(trail, "user_add", {"name": args.name, "role": role.value})
        print(f"added {args.name} ({role.value})")
        return 0
    if command == "set-role":
        role = Role.parse(args.role)
        old = accounts.get_user(args.name).role
        accounts.update_user(args.name, role=role)
        _audit(trail, "user_set_role", {"name": args.name, "old_role": old.value, "role": role.value})
        print(f"{args.name}: {old.value} -> {role.value}")
        return 0
    if command in ("disable", "enable"):
        accounts.update_user(args.name, disabled=command == "disable")
        _audit(trail, f"user_{command}", {"name": args.name})
        print(f"{args.name}: {command}d")
        return 0
    if command == "reset-password":
        accounts.get_user(args.name)
        accounts.update_user(args.name, password_hash=hash_password(read_password("新密码 / new password: ")))
        _audit(trail, "user_reset_password", {"name": args.name})
        print(f"{args.name}: password changed; the user's sessions were ended")
        return 0
    if command == "token":
        info, text = create_token(accounts, args.name, args.label)
        _audit(trail, "token_create", {"name": args.name, "token": info.id, "label": info.label})
        print(text)
        print(f"(token {info.id} for {args.name}: shown once; revoke it on /account)", file=sys.stderr)
        return 0
    raise InvalidInput(f"unknown users command {command}")


def run_audit(args: argparse.Namespace, settings: Settings) -> int:
    _, trail = _stores(settings)
    checked, broken = trail.verify()
    seq, digest = trail.head()
    if broken is None:
        print(f"audit trail intact: {checked} record(s); head {seq} {digest}")
        return 0
    print(f"audit trail BROKEN at record {broken.seq}: {broken.reason} ({checked} record(s) before it verified)")
    return 1


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    users = sub.add_parser("users", help="accounts: add, list, disable, set-role, reset-password, token")
    cmds = users.add_subparsers(dest="users_command", required=True)
    add = cmds.add_parser("add", help="add a local user (password from stdin or prompted)")
    add.add_argument("name")
    add.add_argument("--role", default="viewer", choices=[r.value for r in Role])
    cmds.add_parser("list", help="list users")
    for name, text in (("disable", "disable a user (ends sessions, revokes tokens)"), ("enable", "enable a user"),
                       ("reset-password", "set a new password (stdin or prompted)")):
        p = cmds.add_parser(name, help=text)
        p.add_argument("name")
    role = cmds.add_parser("set-role", help="change a user's role")
    role.add_argument("name")
    role.add_argument("role", choices=[r.value for r in Role])
    token = cmds.add_parser("token", help="issue a personal API token (printed once)")
    token.add_argument("name")
    token.add_argument("--label", default="issued by admin (CLI)")
    for p in (users, add):
        p.set_defaults(handler=run_users)
    users.set_defaults(handler=run_users)
    audit = sub.add_parser("audit", help="the audit trail").add_subparsers(dest="audit_command", required=True)
    audit.add_parser("verify", help="recompute the hash chain; names the first broken record").set_defaults(
        handler=run_audit)
