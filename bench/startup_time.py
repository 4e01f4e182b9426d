"""Start-up time: how long `medgap --help` (and other commands that do no work) take, against the
interpreter starting and doing nothing, measured in the same run.

    python bench/startup_time.py                 # 15 runs of each, interleaved
    python bench/startup_time.py --runs 30

Every command is started as a process of its own, the way a user starts it: the `medgap` console
script next to this interpreter (`python -m medgap` when there is none), with this checkout first
on PYTHONPATH. The runs of the different commands are interleaved, so that other load on the
machine falls on all of them alike; the table gives the median and the fastest run of each, and
each median as a ratio to `python -c pass`. Run it with the interpreter itself, not a wrapper
(pyenv's shim adds some 0.2 s to every process it starts): `$(pyenv which python) bench/...`.
Target (issue 18): `medgap --help` under 0.25 s.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 0.25


def medgap_command() -> list[str]:
    script = Path(sys.executable).with_name("medgap")
    return [str(script)] if script.exists() else [sys.executable, "-m", "medgap"]


def commands() -> dict[str, list[str]]:
    medgap = medgap_command()
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import typer'": [sys.executable, "-c", "import typer"],
        "medgap --help": [*medgap, "--help"],
        "medgap --version": [*medgap, "--version"],
        "medgap run --help": [*medgap, "run", "--help"],
    }


def time_once(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr.decode()[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each command (default 15)")
    args = parser.parse_args()
    compileall.compile_dir(REPO / "medgap", quiet=1)  # as installed: no module compiled on start
    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": pythonpath, "COLUMNS": "100"}
    timed: dict[str, list[float]] = {name: [] for name in commands()}
    for _ in range(args.runs):
        for name, command in commands().items():
            timed[name].append(time_once(command, env))
    base = statistics.median(timed["python -c pass"])
    print(f"{args.runs} runs each, interleaved; interpreter {sys.executable}")
    print(f"{'command':<28} {'median s':>9} {'fastest s':>10} {'x python':>9}  note")
    for name, seconds in timed.items():
        median = statistics.median(seconds)
        note = ""
        if name == "medgap --help":
            note = f"target < {TARGET_S} s: {'met' if median < TARGET_S else 'NOT met'}"
        print(f"{name:<28} {median:>9.3f} {min(seconds):>10.3f} {median / base:>8.1f}x  {note}")


if __name__ == "__main__":
    main()
