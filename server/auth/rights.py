"""Who may do what: the rights, the roles that carry them, and THE table of every route's right.

Every route of the app is listed in :data:`RIGHTS` as ``"METHOD /path"``
(the path template exactly as declared on the route) with the one right it
needs. :class:`server.auth.guard.RightsGuard` looks each request's route up
here before the handler runs; a route missing from the table answers 500 and
fails ``tests/test_rights.py`` (which walks every route with every role), so
no route can be added unguarded. HEAD uses the GET entry; OPTIONS (CORS
preflight, ``Allow``) reveals nothing and is always allowed.

Adding a route = one line here, e.g.::

    "GET /api/jobs/{job_id}": Right.VIEW,

Rights that depend on the thing itself (a workspace belongs to its owner and
those it is shared with) are checked in the handler on top of this, and a
workspace the user may not see answers 404, never 403.
"""

from __future__ import annotations

from enum import StrEnum

from layers.accounts import Role


class Right(StrEnum):
    OPEN = "open"  # anyone, always: the login page, static files (CSS/JS the login page needs)
    PUBLIC_READ = "public_read"  # maps, layers, OGC, the plan reader: anyone when PLANVIEW_PUBLIC_MAPS is on
    VIEW = "view"  # signed in, any role: shared workspaces, map export, one's own account
    PLAN = "plan"  # planner or admin: upload/draw sites, own workspaces, share them
    ADMIN = "admin"  # admin: replace/import layers, manage users, read the audit trail


ROLE_RIGHTS: dict[Role, frozenset[Right]] = {
    Role.VIEWER: frozenset({Right.OPEN, Right.PUBLIC_READ, Right.VIEW}),
    Role.PLANNER: frozenset({Right.OPEN, Right.PUBLIC_READ, Right.VIEW, Right.PLAN}),
    Role.ADMIN: frozenset(Right),
}
ANONYMOUS_RIGHTS = frozenset({Right.OPEN, Right.PUBLIC_READ})  # PUBLIC_READ only with public maps on

# fmt: off
RIGHTS: dict[str, Right] = {
    # ---- static files and the sign-in pages
    "MOUNT /static":                                   Right.OPEN,
    "MOUNT /static/build":                             Right.OPEN,  # the build of static/planview (frontend.py)
    "GET /fonts/cjk.css":                              Right.OPEN,  # the fallback Chinese web font (server/fonts.py)
    "GET /fonts/{name}":                               Right.OPEN,
    "GET /login":                                      Right.OPEN,
    "POST /login":                                     Right.OPEN,
    "POST /logout":                                    Right.OPEN,
    # ---- maps, layers, OGC API, plan reader (public unless PLANVIEW_PUBLIC_MAPS=false)
    "GET /":                                           Right.PUBLIC_READ,
    "GET /maps/{map_id}":                              Right.PUBLIC_READ,
    "GET /maps/{map_id}/thumbnail.svg":                Right.PUBLIC_READ,
    "GET /api/layers":                                 Right.PUBLIC_READ,
    "GET /api/layers/{layer_id}":                      Right.PUBLIC_READ,
    "GET /api/indicators/{table_id}":                  Right.PUBLIC_READ,
    "GET /ogc":                                        Right.PUBLIC_READ,
    "GET /ogc/":                                       Right.PUBLIC_READ,
    "GET /ogc/conformance":                            Right.PUBLIC_READ,
    "GET /ogc/collections":                            Right.PUBLIC_READ,
    "GET /ogc/collections/{collection_id}":            Right.PUBLIC_READ,
    "GET /ogc/collections/{collection_id}/items":      Right.PUBLIC_READ,
    "GET /ogc/collections/{collection_id}/items/{feature_id}": Right.PUBLIC_READ,
    "GET /ogc/api":                                    Right.PUBLIC_READ,
    "GET /ogc/collections/{collection_id}/queryables": Right.PUBLIC_READ,
    "GET /ogc/collections/{collection_id}/schema":     Right.PUBLIC_READ,
    "GET /monitor/{plan}":                             Right.PUBLIC_READ,
    "GET /plans/{plan_id}":                            Right.PUBLIC_READ,
    "GET /api/search":                                 Right.PUBLIC_READ,
    # vector tiles, tiled features' attributes and OGC API – Tiles metadata (#12)
    "GET /tiles/{layer_id}/{z}/{x}/{y}.mvt":           Right.PUBLIC_READ,
    "GET /api/layers/{layer_id}/features/{feature_id}": Right.PUBLIC_READ,
    "GET /ogc/tileMatrixSets":                         Right.PUBLIC_READ,
    "GET /ogc/tileMatrixSets/WebMercatorQuad":         Right.PUBLIC_READ,
    "GET /ogc/collections/{collection_id}/tiles":      Right.PUBLIC_READ,
    "GET /ogc/collections/{collection_id}/tiles/WebMercatorQuad": Right.PUBLIC_READ,
    # the operator's offline basemap tiles (#10)
    "GET /basemap/{name}/{z}/{x}/{y}":                 Right.PUBLIC_READ,
    "GET /api/mentions/{layer_id}/{feature_id}":       Right.PUBLIC_READ,
    "GET /api/indicators/{plan}/template.{fmt}":       Right.PUBLIC_READ,
    "GET /openapi.json":                               Right.PUBLIC_READ,
    "GET /docs":                                       Right.PUBLIC_READ,
    "GET /redoc":                                      Right.PUBLIC_READ,
    # ---- signed in: export maps, read workspaces one may see, one's own account and tokens
    "GET /api/export":                                 Right.VIEW,
    "GET /api/overlay":                                Right.VIEW,
    "GET /api/jobs/{job_id}":                          Right.VIEW,
    "DELETE /api/jobs/{job_id}":                       Right.VIEW,  # cancel one's own job (owner-checked)
    "GET /api/overlay/{ref}":                          Right.VIEW,
    "GET /api/overlay/{workspace_id}/report.pdf":      Right.VIEW,
    "GET /overlay":                                    Right.VIEW,
    "GET /overlay/{ws_id}":                            Right.VIEW,
    "GET /account":                                    Right.VIEW,
    "POST /account/password":                          Right.VIEW,
    "POST /account/tokens":                            Right.VIEW,
    "POST /account/tokens/{token_id}/revoke":          Right.VIEW,
    "GET /api/account":                                Right.VIEW,
    "GET /api/account/tokens":                         Right.VIEW,
    "GET /api/indicators/{plan}/evaluation.pdf":       Right.VIEW,
    "GET /api/indicators/{plan}/status.xlsx":          Right.VIEW,
    "POST /api/account/tokens":                        Right.VIEW,
    "DELETE /api/account/tokens/{token_id}":           Right.VIEW,
    # check a drawn/typed site against the plans, nothing saved (#10): signed in, because the answer
    # includes 合规性审查 against the store's control layers, which the public maps do not show
    "POST /api/overlay/check":                         Right.VIEW,
    # ---- planners: upload, delete and share their own workspaces
    "POST /api/overlay":                               Right.PLAN,
    "DELETE /api/overlay/{ws_id}":                     Right.PLAN,
    "PUT /api/overlay/{ws_id}/share":                  Right.PLAN,
    "POST /overlay":                                   Right.PLAN,
    "POST /overlay/{ws_id}/delete":                    Right.PLAN,
    "POST /overlay/{ws_id}/share":                     Right.PLAN,
    # ---- planners: monitoring values (监测评估)
    "POST /api/indicators/{plan}/values":              Right.PLAN,
    "POST /api/indicators/{plan}/import":              Right.PLAN,
    "POST /monitor/{plan}/values":                     Right.PLAN,
    "POST /monitor/{plan}/import":                     Right.PLAN,
    # ---- admins: users, the audit trail, layers
    "GET /admin/users":                                Right.ADMIN,
    "POST /admin/users":                               Right.ADMIN,
    "POST /admin/users/{name}":                        Right.ADMIN,
    "GET /api/users":                                  Right.ADMIN,
    "GET /admin/audit":                                Right.ADMIN,
    "GET /api/audit":                                  Right.ADMIN,
    "GET /api/audit.csv":                              Right.ADMIN,
    "GET /admin/layers":                               Right.ADMIN,
    "GET /api/admin/layers":                           Right.ADMIN,
    "POST /api/admin/layers":                          Right.ADMIN,
}
# fmt: on


def rights_of(role: Role | None, *, public_maps: bool) -> frozenset[Right]:
    """The rights of a signed-in role, or of nobody signed in (``None``)."""
    if role is None:
        return ANONYMOUS_RIGHTS if public_maps else frozenset({Right.OPEN})
    return ROLE_RIGHTS[role]


def route_key(method: str, path: str) -> str:
    return f"{'GET' if method == 'HEAD' else method} {path}"
