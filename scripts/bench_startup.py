#!/usr/bin/env python3
"""Benchmark: how long a query and `audit --help` take to start, against the floor of the
libraries they cannot do without.

Builds the demo store the README's quickstart builds (`audit run --config
reference_values/demo/oak.toml --offline`, real Oak data, no network) in a temporary SQLite
file, then times, in alternating runs (so a busy machine slows both sides alike):

- `audit component kernel` against `python -c "import sqlalchemy.orm, typer, sqlite3"`
  (goal: at most 1.3 times);
- `audit --help` against `python -c "import typer"` (goal: at most 1.2 times).

Each `audit` runs as the installed console script does (`from auditor.cli import main`) in a
fresh interpreter with bytecode caching on; the medians and their ratios are printed.

    python scripts/bench_startup.py [--runs 21]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "reference_values" / "demo" / "oak.toml"
#: What the `audit` console script runs.
AUDIT = [sys.executable, "-c", "import sys; from auditor.cli import main; sys.exit(main())"]
PAIRS = (
    ("audit component kernel", [*AUDIT, "component", "kernel"],
     "import sqlalchemy.orm, typer, sqlite3", 1.3),
    ("audit --help", [*AUDIT, "--help"], "import typer", 1.2),
)


def environment(database: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env["AUDITOR_DB"] = f"sqlite:///{database}"
    return env


def elapsed(command: list[str], env: dict[str, str], cwd: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, check=False)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[3:]) or command}: exit {done.returncode}\n"
                         f"{done.stderr}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=21, help="alternating runs per pair")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = environment(Path(tmp) / "demo.db")
        # Run from the temporary directory: `python -c` puts the working directory first on
        # sys.path, and only REPO's code is to be measured.
        built = subprocess.run([*AUDIT, "run", "--config", str(DEMO), "--offline"], env=env,
                               cwd=tmp, capture_output=True, text=True, check=False)
        if built.returncode != 1:  # the demo's findings make it exit 1
            raise SystemExit(f"building the demo store failed ({built.returncode}):\n"
                             f"{built.stderr}")
        print(f"demo store: {tmp}/demo.db; {args.runs} alternating runs per pair; "
              f"python {sys.version.split()[0]}")
        for name, command, floor_code, goal in PAIRS:
            floor = [sys.executable, "-c", floor_code]
            for warm in (floor, command):  # bytecode written, files in the page cache
                elapsed(warm, env, tmp)
            ours: list[float] = []
            theirs: list[float] = []
            for _ in range(args.runs):
                theirs.append(elapsed(floor, env, tmp))
                ours.append(elapsed(command, env, tmp))
            median, base = statistics.median(ours), statistics.median(theirs)
            ratio = median / base
            print(f"{name}: {median * 1000:.0f} ms; python -c \"{floor_code}\": "
                  f"{base * 1000:.0f} ms; ratio {ratio:.2f} (goal <= {goal}: "
                  f"{'met' if ratio <= goal else 'NOT met'})")


if __name__ == "__main__":
    main()
