"""Run every benchmark, each in a process of its own, and report which targets were met.

    .venv/bin/python -m benchmarks.run              (what ``make bench`` runs)
    .venv/bin/python -m benchmarks.run maps scale   (only these; extra flags go to each, e.g. --n 100000)

Each benchmark measures its own baseline in the same run and prints ratios;
it exits non-zero when a target is missed. Benchmarks are not tests: CI does
not run them, because timings on a shared machine are not pass/fail facts.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = ("benchmarks.maps", "benchmarks.overlay", "benchmarks.export", "benchmarks.scale",
              "benchmarks.robustness")


def main(argv: list[str]) -> int:
    first_flag = next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))
    names, flags = argv[:first_flag], argv[first_flag:]
    unknown = [n for n in names if f"benchmarks.{n}" not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {[m.split('.')[1] for m in BENCHMARKS]}")
        return 2
    chosen = [m for m in BENCHMARKS if not names or m.split(".")[1] in names]
    missed = []
    for module in chosen:
        print(f"\n=== {module} ===", flush=True)
        if subprocess.run([sys.executable, "-m", module, *flags]).returncode != 0:
            missed.append(module)
    print("\n=== summary ===")
    for module in chosen:
        print(f"{module}: {'target missed' if module in missed else 'targets met'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
