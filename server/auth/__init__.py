"""Who may do what: rights per route (:mod:`server.auth.rights`), the guard that enforces them
(:mod:`server.auth.guard`), sessions and CSRF (:mod:`server.auth.sessions`), the current user and the
audit helper (:mod:`server.auth.state`), and the sign-in/account/user pages (:mod:`server.auth.pages`).

In a handler::

    from server.auth import CurrentUser, record

    @router.post("/api/things")
    def make_thing(request: Request, principal: CurrentUser) -> ...:
        ...                                   # the guard has checked the route's right already
        record(request, "thing_create", details={"id": thing_id})
"""

from __future__ import annotations

from server.auth.rights import RIGHTS, Right
from server.auth.state import CurrentUser, Principal, arecord, check_workspace, current_principal, record

__all__ = ["RIGHTS", "CurrentUser", "Principal", "Right", "arecord", "check_workspace", "current_principal", "record"]
