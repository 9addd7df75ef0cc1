"""All configuration, in one place, from ``PLANVIEW_*`` environment variables.

Only the application reads settings; library code takes plain arguments.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PLANVIEW_", env_file=".env", extra="ignore")

    data_dir: Path = ROOT / "data"
    build_dir: Path = ROOT / "data" / "build"
    static_dir: Path = ROOT / "static"
    # The map page loads the current build of its ES modules (made by `planview js build` into js_build_dir)
    # when there is one, else the modules as they are (server/mapview/frontend.py).
    js_build: bool = True
    js_build_dir: Path = ROOT / "data" / "build" / "js"
    plans_dir: Path = ROOT / "data" / "plans"
    # Workspaces (uploads): an embedded GeoPackage by default, PostGIS when a URL is given.
    workspace_gpkg: Path = ROOT / "data" / "workspaces" / "workspaces.gpkg"
    database_url: str | None = None
    # Large imported layers (三区三线, land-use plans …): the layer store, the same GeoPackage/PostGIS choice.
    layer_store_gpkg: Path = ROOT / "data" / "store" / "layers.gpkg"
    layer_store_schema: str = "public"  # PostGIS schema of the layer store
    control_classes: Path = ROOT / "data" / "control-classes.yaml"
    max_upload_mb: float = Field(default=50.0, gt=0)
    max_vertices: int = Field(default=2_000_000, gt=0)
    max_features: int = Field(default=200_000, gt=0)
    max_archive_files: int = Field(default=200, gt=0)
    max_uncompressed_mb: float = Field(default=500.0, gt=0)
    # Online basemaps are off unless configured; the default map needs no internet.
    enable_osm: bool = False
    tianditu_token: str | None = None
    enable_amap: bool = False
    # Offline tile files the office holds (MBTiles or PMTiles v3, raster or vector), name -> path,
    # served by planview at /basemap/{name}/{z}/{x}/{y} and offered in the map's basemap switcher, e.g.
    # PLANVIEW_BASEMAP_FILES='{"yingxiang": "/srv/tiles/yunyang-2023.mbtiles", "jiedao": "/srv/roads.pmtiles"}'.
    basemap_files: dict[str, Path] = Field(default_factory=dict)
    # Intranet tile services, title -> URL template (XYZ {z}/{x}/{y}, or WMTS KVP with
    # TILEMATRIX={z}&TILEROW={y}&TILECOL={x}); WGS84/CGCS2000 Web-Mercator grids line up with the data.
    basemap_urls: dict[str, str] = Field(default_factory=dict)
    # Heavy work (upload analysis, exports, reports) runs in a bounded pool of worker processes.
    job_workers: int = Field(default=2, ge=1, le=64)
    job_timeout_s: float = Field(default=60.0, gt=0)  # wall time per job; past it the worker is killed
    job_memory_mb: float = Field(default=1536.0, gt=0)  # per worker; past it the worker is killed and replaced
    job_queue: int = Field(default=32, ge=0)  # jobs waiting at most; more -> 503 with Retry-After
    job_nice: int = Field(default=10, ge=0, le=19)  # workers' CPU priority below the server's: reads stay quick
    # Monitoring (监测评估预警): status from the progress ratio (progress made / progress planned by that year).
    # 正常 at or above monitor_normal_ratio, 滞后 down to monitor_warning_ratio, 预警 below it.
    monitor_normal_ratio: float = Field(default=1.0, gt=0, le=2)
    monitor_warning_ratio: float = Field(default=0.8, ge=0, le=2)
    # Slow clients (planview serve): request headers must arrive within header_timeout_s, each read of a
    # request body within body_timeout_s (else 408); idle keep-alive connections close after keep_alive_s.
    header_timeout_s: float = Field(default=10.0, gt=0)
    body_timeout_s: float = Field(default=30.0, gt=0)
    keep_alive_s: int = Field(default=5, ge=1)
    max_header_kb: int = Field(default=64, ge=4)  # request line + headers at most (h11's incomplete-event limit)
    # Other web clients reading layers, OGC API and tiles across origins (GET/HEAD only); off when empty,
    # e.g. PLANVIEW_CORS_ORIGINS='["https://gis.example.gov.cn"]' or '["*"]'.
    cors_origins: list[str] = Field(default_factory=list)
    # Storage quota for saved workspaces, in MB: per owner once workspaces have owners (accounts), else for the
    # whole store. Unset = no quota. Over it, saving answers 507 saying what to delete.
    quota_mb: float | None = Field(default=None, gt=0)
    host: str = "127.0.0.1"
    port: int = 8000
    # Accounts and rights. Public maps: maps, layers, OGC and the plan reader need no login (off: everything does).
    public_maps: bool = True
    # Signs session cookies; when unset a random one is generated once and kept in the store (planview_meta).
    secret_key: str | None = None
    session_hours: float = Field(default=12.0, gt=0)
    # First start with no users: the admin gets this password, or a generated one printed once to the console.
    admin_password: str | None = None
    cookie_secure: bool | None = None  # None: Secure when the request came over https
    login_max_per_account: int = Field(default=5, gt=0)  # failed logins per account per window
    login_max_per_address: int = Field(default=20, gt=0)  # failed logins per client address per window
    login_window_s: float = Field(default=900.0, gt=0)
    # Trusted single sign-on: a reverse proxy that has authenticated the user puts the name in this header.
    # Off unless set; honoured only from trusted_proxies (the proxy's address), never from clients.
    trusted_user_header: str | None = None
    trusted_proxies: list[str] = ["127.0.0.1", "::1"]
    sso_default_role: str = "viewer"  # role of a user first seen through the header
    # Optional LDAP directory login (ldap3): bind as the user's DN; roles from group membership.
    ldap_url: str | None = None  # e.g. ldap://ldap.example.gov.cn:389 (ldaps:// for TLS)
    ldap_user_dn: str = "uid={name},ou=people,dc=example,dc=org"
    ldap_start_tls: bool = False
    ldap_group_base: str | None = None  # e.g. ou=groups,dc=example,dc=org; None: everyone is ldap_default_role
    ldap_admin_group: str = "planview-admins"
    ldap_planner_group: str = "planview-planners"
    ldap_default_role: str = "viewer"
    ldap_timeout_s: float = Field(default=5.0, gt=0)

    @property
    def quota_bytes(self) -> int | None:
        return None if self.quota_mb is None else int(self.quota_mb * 1024 * 1024)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)
