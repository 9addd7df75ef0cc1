"""Benchmark: read latency while forty heavy uploads are in flight, against the same reads on an idle server.

    .venv/bin/python -m benchmarks.robustness [--rounds 15] [--uploads 40]

Before the job pool (issue #8), forty 坐标TXT uploads of one parcel with
thousands of rings filled the request threads and the server answered nothing
for 18 minutes. Here ``planview serve`` runs in a process of its own on a
loopback port, as deployed; the client measures the wall time of

* idle: ``--rounds`` passes over the reads below on an otherwise idle server;
* under load: the same reads in a loop while ``--uploads`` threads each POST a
  heavy 坐标TXT parcel (one 5 km square with 1 500 holes) to ``/api/overlay``,
  until every upload has answered.

Reads: the catalogue page, a map page, a layer at zoom 8 and a static file.
Prints p50/p95 of both and the ratio; target: p95 under load at most 3× the
idle p95, every read a 200, every upload 201/202/413/503. Exits 1 when a
target is missed. A benchmark, not a test: the machine is shared.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx

from benchmarks.server_proc import serve

READS = ("/", "/maps/yunyang", "/api/layers/cq-counties?zoom=8", "/static/planview.css")
TARGET_RATIO = 3.0
UPLOAD_OK = {201, 202, 413, 503}


def heavy_landtxt(rings: int = 1500) -> bytes:
    """One parcel: a 5 km square with ``rings`` small square holes (the same body as tests/test_load.py)."""
    lines = ["[属性描述]", "带号=36", "[地块坐标]", "0,1,1,大地块,面,,,,@"]
    x0, y0 = 3423000.0, 36512000.0
    square = [(x0, y0), (x0 + 5000, y0), (x0 + 5000, y0 + 5000), (x0, y0 + 5000), (x0, y0)]
    lines += [f"J{i},1,{x:.3f},{y:.3f}" for i, (x, y) in enumerate(square)]
    for k in range(rings):
        cx, cy = x0 + 100 + (k % 45) * 100, y0 + 100 + (k // 45) * 100
        hole = [(cx, cy), (cx + 10, cy), (cx + 10, cy + 10), (cx, cy + 10), (cx, cy)]
        lines += [f"J{j},{k + 2},{x:.3f},{y:.3f}" for j, (x, y) in enumerate(hole)]
    return "\n".join(lines).encode()


def read_once(client: httpx.Client, path: str) -> tuple[float, int]:
    started = time.perf_counter()
    try:
        status = client.get(path).status_code
    except httpx.HTTPError:
        status = 0
    return time.perf_counter() - started, status


def percentiles(values: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(values, n=20, method="inclusive")
    return statistics.median(values), q[18]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=15, help="idle passes over the reads")
    parser.add_argument("--uploads", type=int, default=40, help="heavy uploads in flight")
    args = parser.parse_args(argv)

    server, base, auth = serve()
    ok = True
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            for path in READS:  # first renders and caches are not what is measured
                client.get(path)
            idle: list[float] = []
            statuses: Counter[int] = Counter()
            for _ in range(args.rounds):
                for path in READS:
                    seconds, status = read_once(client, path)
                    idle.append(seconds)
                    statuses[status] += 1

            body = heavy_landtxt()
            uploads: Counter[int | str] = Counter()
            loaded: list[float] = []
            done = threading.Event()

            def upload(i: int) -> None:
                try:
                    with httpx.Client(base_url=base, timeout=300, headers=auth) as c:
                        uploads[c.post("/api/overlay", files={"file": (f"地块{i}.txt", body)}).status_code] += 1
                except httpx.HTTPError as exc:
                    uploads[type(exc).__name__] += 1

            def reader() -> None:
                while not done.is_set():
                    for path in READS:
                        seconds, status = read_once(client, path)
                        loaded.append(seconds)
                        statuses[status] += 1

            thread = threading.Thread(target=reader, daemon=True)
            started = time.perf_counter()
            with ThreadPoolExecutor(args.uploads) as pool:
                thread.start()
                list(pool.map(upload, range(args.uploads)))
            done.set()
            thread.join(timeout=120)
            load_s = time.perf_counter() - started
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()

    i50, i95 = percentiles(idle)
    l50, l95 = percentiles(loaded)
    print(f"reads: {', '.join(READS)}")
    print(f"{'':<12} {'reads':>6} {'p50 (ms)':>9} {'p95 (ms)':>9} {'max (ms)':>9}")
    print(f"{'idle':<12} {len(idle):>6} {i50 * 1000:>9.1f} {i95 * 1000:>9.1f} {max(idle) * 1000:>9.1f}")
    print(f"{'under load':<12} {len(loaded):>6} {l50 * 1000:>9.1f} {l95 * 1000:>9.1f} {max(loaded) * 1000:>9.1f}")
    print(f"p95 under load / idle: {l95 / i95:.2f}× (target ≤ {TARGET_RATIO:g}×); p50 ratio {l50 / i50:.2f}×")
    print(f"{args.uploads} uploads answered in {load_s:.1f} s: "
          + ", ".join(f"{k}×{v}" for k, v in sorted(uploads.items(), key=str)))
    print("read statuses: " + ", ".join(f"{k}×{v}" for k, v in sorted(statuses.items())))
    if l95 > TARGET_RATIO * i95:
        ok = False
        print(f"  MISSED: p95 under load {l95 * 1000:.0f} ms > {TARGET_RATIO:g}× idle {i95 * 1000:.0f} ms")
    if set(statuses) != {200}:
        ok = False
        print("  MISSED: some reads did not answer 200")
    if not set(uploads) <= UPLOAD_OK:
        ok = False
        print("  MISSED: some uploads answered neither 201/202/413 nor 503")
    print("all targets met" if ok else "some targets missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
