"""Run every benchmark, each in a process of its own, and report which targets were met.

    .venv/bin/python -m benchmarks.run          (what ``make bench`` runs)
    .venv/bin/python -m benchmarks.run scale --n 100000   (one benchmark, its own arguments passed on)

Each benchmark measures its own baseline in the same run and prints ratios;
it exits non-zero when a target is missed. Benchmarks are not tests: CI does
not run them, because timings on a shared machine are not pass/fail facts.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = ("benchmarks.maps", "benchmarks.overlay", "benchmarks.export", "benchmarks.scale",
              "benchmarks.robustness")


def main() -> int:
    chosen = BENCHMARKS
    extra: list[str] = []
    if len(sys.argv) > 1:
        name = f"benchmarks.{sys.argv[1]}"
        if name not in BENCHMARKS:
            print(f"unknown benchmark {sys.argv[1]!r}; one of {[b.split('.')[1] for b in BENCHMARKS]}")
            return 2
        chosen, extra = (name,), sys.argv[2:]
    missed = []
    for module in chosen:
        print(f"\n=== {module} ===", flush=True)
        if subprocess.run([sys.executable, "-m", module, *extra]).returncode != 0:
            missed.append(module)
    print("\n=== summary ===")
    for module in chosen:
        print(f"{module}: {'target missed' if module in missed else 'targets met'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
