"""Sign in and out, one's own account and API tokens, and user management for admins.

HTML forms post url-encoded bodies carrying the CSRF token (checked by the
guard); the JSON routes under ``/api/account`` and ``/api/users`` serve
scripts using personal tokens. Every change is written to the audit trail.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from geo.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, TooManyAttempts
from layers.accounts import Role, User, authenticate, check_name, create_token, hash_password, verify_password
from layers.accounts.credentials import new_password
from server.auth.sessions import Session
from server.auth.state import AuthState, CurrentUser, Principal, auth_state, csrf_token, record

router = APIRouter(tags=["accounts"])
ROLE_LABELS = {"viewer": "浏览者 viewer", "planner": "规划人员 planner", "admin": "管理员 admin"}


def safe_next(url: str | None) -> str:
    """Only a path on this site (no scheme, no host, no ``//``, no backslash): never an open redirect."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url or any(ord(c) < 32 for c in url):
        return "/"
    return url[:2000]


def _render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    return request.app.state.templates.TemplateResponse(  # type: ignore[no-any-return]
        request, template, context, status_code=status)


def login_page(request: Request, *, status: int = 200, next_url: str = "/", notice: str | None = None,
               error: str | None = None, name: str = "") -> HTMLResponse:
    settings = auth_state(request).settings
    return _render(request, "login.html", {"next": safe_next(next_url), "notice": notice, "error": error,
                                           "name": name, "ldap": bool(settings.ldap_url)}, status)


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_form(request: Request, principal: CurrentUser, next: str = "/") -> Response:
    if principal.user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return login_page(request, next_url=next)


@router.post("/login", response_class=HTMLResponse, include_in_schema=False)
async def login_submit(request: Request, name: Annotated[str, Form(max_length=200)] = "",
                       password: Annotated[str, Form(max_length=1024)] = "",
                       next: Annotated[str, Form(max_length=2000)] = "/") -> Response:
    state = auth_state(request)
    address = state.client_address(request)
    try:
        user = await run_in_threadpool(authenticate, state.accounts, state.throttle, name, password, address,
                                       state.directory)
    except TooManyAttempts as exc:
        await run_in_threadpool(record, request, "login_failed", details={"name": name[:64]},
                                outcome="throttled")
        response = login_page(request, status=429, next_url=next, error=exc.message, name=name[:64])
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except NotAuthenticated as exc:
        await run_in_threadpool(record, request, "login_failed", details={"name": name[:64]},
                                outcome="failed: wrong name or password")
        return login_page(request, status=401, next_url=next, error=exc.message, name=name[:64])
    request.scope["planview.session"] = Session.fresh(user.name, user.session_epoch)  # new nonce: no fixation
    request.scope["planview.principal"] = Principal(user=user, via="session")
    await run_in_threadpool(record, request, "login", details={"source": user.source, "role": user.role.value})
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout", include_in_schema=False)
def logout(request: Request, principal: CurrentUser) -> Response:
    """Sign out: ends every session of this user (the session epoch moves on), clears the cookie."""
    if principal.user is not None and principal.via == "session":
        auth_state(request).accounts.update_user(principal.user.name, end_sessions=True)
        record(request, "logout")
    fresh = Session.fresh()
    fresh.clear = True
    request.scope["planview.session"] = fresh
    return RedirectResponse("/", status_code=303)


# ---------------------------------------------------------------- one's own account


def _user(principal: Principal) -> User:
    if principal.user is None:  # the guard already answered 401; this keeps the type checker honest
        raise NotAuthenticated("请先登录 / please sign in")
    return principal.user


def _account_page(request: Request, user: User, *, new_token: str | None = None, error: str | None = None,
                  message: str | None = None, status: int = 200) -> HTMLResponse:
    tokens = auth_state(request).accounts.list_tokens(user.name)
    return _render(request, "account.html", {
        "user": user, "role_label": ROLE_LABELS[user.role.value], "tokens": tokens, "new_token": new_token,
        "error": error, "message": message}, status)


@router.get("/account", response_class=HTMLResponse, include_in_schema=False)
def account(request: Request, principal: CurrentUser) -> Response:
    return _account_page(request, _user(principal))


@router.post("/account/tokens", response_class=HTMLResponse, include_in_schema=False)
def account_token_create(request: Request, principal: CurrentUser,
                         label: Annotated[str, Form(max_length=200)] = "") -> Response:
    user = _user(principal)
    info, text = create_token(auth_state(request).accounts, user.name, label)
    record(request, "token_create", details={"token": info.id, "label": info.label, "user": user.name})
    response = _account_page(request, user, new_token=text)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/account/tokens/{token_id}/revoke", include_in_schema=False)
def account_token_revoke(token_id: str, request: Request, principal: CurrentUser) -> Response:
    user = _user(principal)
    auth_state(request).accounts.revoke_token(token_id, user=user.name)
    record(request, "token_revoke", details={"token": token_id, "user": user.name})
    return RedirectResponse("/account", status_code=303)


@router.post("/account/password", response_class=HTMLResponse, include_in_schema=False)
def account_password(request: Request, principal: CurrentUser,
                     current: Annotated[str, Form(max_length=1024)] = "",
                     new: Annotated[str, Form(max_length=1024)] = "",
                     repeat: Annotated[str, Form(max_length=1024)] = "") -> Response:
    user = _user(principal)
    state = auth_state(request)
    if user.source != "local":
        return _account_page(request, user, error="此账户由目录或单点登录管理，请在那里修改密码 / this account's password "
                             "is managed by the directory or single sign-on", status=400)
    if not verify_password(user.password_hash, current):
        record(request, "password_change", outcome="failed: wrong current password")
        return _account_page(request, user, error="当前密码不正确 / the current password is wrong", status=400)
    if new != repeat:
        return _account_page(request, user, error="两次输入的新密码不一致 / the new passwords differ", status=400)
    try:
        changed = state.accounts.update_user(user.name, password_hash=hash_password(new))
    except InvalidInput as exc:
        return _account_page(request, user, error=exc.message, status=400)
    record(request, "password_change", details={"user": user.name})
    if principal.via == "session":  # every other session ends; this one continues under the new epoch
        request.scope["planview.session"] = Session.fresh(changed.name, changed.session_epoch)
    return _account_page(request, changed, message="密码已修改，其他设备上的登录已退出 / password changed; other sessions "
                         "were signed out")


class TokenRequest(BaseModel):
    label: str = Field(default="API", max_length=100)


@router.get("/api/account")
def api_account(principal: CurrentUser) -> dict[str, Any]:
    return {**_user(principal).as_dict(), "via": principal.via}


@router.get("/api/account/tokens")
def api_tokens(request: Request, principal: CurrentUser) -> dict[str, Any]:
    return {"tokens": [t.as_dict() for t in auth_state(request).accounts.list_tokens(_user(principal).name)]}


@router.post("/api/account/tokens", status_code=201)
def api_token_create(request: Request, principal: CurrentUser, body: TokenRequest) -> dict[str, Any]:
    """A new personal token; ``token`` is returned this once and never again."""
    user = _user(principal)
    info, text = create_token(auth_state(request).accounts, user.name, body.label)
    record(request, "token_create", details={"token": info.id, "label": info.label, "user": user.name})
    return {**info.as_dict(), "token": text}


@router.delete("/api/account/tokens/{token_id}", status_code=204)
def api_token_revoke(token_id: str, request: Request, principal: CurrentUser) -> Response:
    user = _user(principal)
    auth_state(request).accounts.revoke_token(token_id, user=user.name)
    record(request, "token_revoke", details={"token": token_id, "user": user.name})
    return Response(status_code=204)


# ---------------------------------------------------------------- admins: users


def _users_page(request: Request, *, error: str | None = None, message: str | None = None,
                secret: tuple[str, str, str] | None = None, status: int = 200) -> HTMLResponse:
    users = auth_state(request).accounts.list_users()
    response = _render(request, "admin_users.html", {
        "users": users, "roles": list(ROLE_LABELS.items()), "error": error, "message": message, "secret": secret},
        status)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/admin/users", response_class=HTMLResponse, include_in_schema=False)
def admin_users(request: Request) -> Response:
    return _users_page(request)


@router.get("/api/users")
def api_users(request: Request) -> dict[str, Any]:
    return {"users": [u.as_dict() for u in auth_state(request).accounts.list_users()]}


@router.post("/admin/users", response_class=HTMLResponse, include_in_schema=False)
def admin_user_add(request: Request, name: Annotated[str, Form(max_length=200)] = "",
                   role: Annotated[str, Form(max_length=20)] = "viewer",
                   password: Annotated[str, Form(max_length=1024)] = "") -> Response:
    state = auth_state(request)
    try:
        check_name(name.strip())
        parsed = Role.parse(role)
        generated = None if password else new_password()
        state.accounts.add_user(name.strip(), parsed, hash_password(password or generated or ""))
    except InvalidInput as exc:
        record(request, "user_add", details={"name": name[:64], "role": role[:20]}, outcome=f"failed: {exc.code}")
        return _users_page(request, error=exc.message, status=409 if isinstance(exc, Conflict) else 400)
    record(request, "user_add", details={"name": name.strip(), "role": parsed.value})
    secret = (name.strip(), "初始密码 / initial password", generated) if generated else None
    return _users_page(request, message=f"已添加用户 {name.strip()} / user added", secret=secret)


def _guard_last_admin(state: AuthState, target: User, *, demote: bool, disable: bool) -> None:
    if target.role is Role.ADMIN and not target.disabled and (demote or disable) and state.accounts.count_admins() <= 1:
        raise Conflict("不能停用或降级最后一位管理员 / the last admin cannot be disabled or demoted")


@router.post("/admin/users/{name}", response_class=HTMLResponse, include_in_schema=False)
def admin_user_change(name: str, request: Request, action: Annotated[str, Form(max_length=20)],
                      role: Annotated[str, Form(max_length=20)] = "") -> Response:
    """``action``: set-role (with ``role``), disable, enable, reset-password, token, end-sessions."""
    state = auth_state(request)
    secret = None
    details: dict[str, Any] = {"name": name}
    try:
        target = state.accounts.get_user(name)
        if action == "set-role":
            new_role = Role.parse(role)
            _guard_last_admin(state, target, demote=new_role is not Role.ADMIN, disable=False)
            state.accounts.update_user(name, role=new_role)
            details.update(old_role=target.role.value, role=new_role.value)
        elif action in ("disable", "enable"):
            _guard_last_admin(state, target, demote=False, disable=action == "disable")
            state.accounts.update_user(name, disabled=action == "disable")
        elif action == "reset-password":
            if target.source != "local":
                raise InvalidInput("目录/单点登录账户没有本地密码 / directory and SSO accounts have no local password")
            password = new_password()
            state.accounts.update_user(name, password_hash=hash_password(password))
            secret = (name, "新密码 / new password", password)
        elif action == "token":
            info, text = create_token(state.accounts, name, "issued by admin")
            details["token"] = info.id
            secret = (name, f"API 令牌 {info.id} / API token", text)
        elif action == "end-sessions":
            state.accounts.update_user(name, end_sessions=True)
        else:
            raise InvalidInput(f"未知操作 {action!r} / unknown action {action!r}")
    except (InvalidInput, NotFound) as exc:
        record(request, f"user_{action}"[:40], details=details, outcome=f"failed: {exc.code}")
        status = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 400
        return _users_page(request, error=exc.message, status=status)
    record(request, "token_create" if action == "token" else f"user_{action.replace('-', '_')}", details=details)
    return _users_page(request, message=f"已更新用户 {name} / user {name} updated", secret=secret)


def template_context(request: Request) -> dict[str, Any]:
    """Jinja context for every page: who is signed in, and a lazily made CSRF token for forms."""
    principal: Principal | None = request.scope.get("planview.principal")
    return {"current_user": principal.user if principal else None,
            "csrf_token": lambda: csrf_token(request),
            "public_maps": auth_state(request).settings.public_maps if hasattr(request.app.state, "auth") else True}
