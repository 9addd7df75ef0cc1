"""The real app as deployed, for the benchmarks: ``planview serve`` in a process of its own on a free
loopback port, with a private embedded store and one account whose API token the client sends.

Its own process, like a deployed server: in the benchmark's process the client (and Playwright's driver
loop) would share the GIL with the work being timed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(role: str = "planner", start_timeout_s: float = 90
          ) -> tuple[subprocess.Popen[bytes], str, dict[str, str]]:
    """Start the server; returns the process, its base URL and the ``Authorization`` header of a ``role``."""
    tmp = Path(tempfile.mkdtemp(prefix="planview-bench-"))
    env = {**os.environ, "PLANVIEW_WORKSPACE_GPKG": str(tmp / "ws.gpkg"),
           "PLANVIEW_LAYER_STORE_GPKG": str(tmp / "layers.gpkg")}
    env.pop("PLANVIEW_DATABASE_URL", None)
    users = [sys.executable, "-m", "server.cli", "users"]
    subprocess.run([*users, "add", "bench", "--role", role], cwd=ROOT, env=env, input="bench password 1234\n",
                   text=True, capture_output=True, check=True)
    token = subprocess.run([*users, "token", "bench"], cwd=ROOT, env=env, text=True, capture_output=True,
                           check=True).stdout.strip().splitlines()[-1]
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + start_timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/layers", timeout=5):  # noqa: S310 - loopback only
                return proc, base, {"Authorization": f"Bearer {token}"}
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("server did not start") from None
            time.sleep(0.1)
