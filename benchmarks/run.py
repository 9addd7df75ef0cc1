"""Run every benchmark, each in a process of its own, and report which targets were met.

    .venv/bin/python -m benchmarks.run          (what ``make bench`` runs)

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
    missed = []
    for module in BENCHMARKS:
        print(f"\n=== {module} ===", flush=True)
        if subprocess.run([sys.executable, "-m", module]).returncode != 0:
            missed.append(module)
    print("\n=== summary ===")
    for module in BENCHMARKS:
        print(f"{module}: {'target missed' if module in missed else 'targets met'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
