"""Speed of loading a MedBench JSONL file: `load_file` on N generated five-option items against
`json.loads` of every line of the same file, timed in the same run (the least any loader costs:
read the file, parse the JSON), printed as a ratio.

The items are `harness_overhead.py`'s (the file `medgap run` loads there), in three shapes: options
given as a list (`given`, that benchmark's file), written one per line at the end of the question
(`lines`), or on one line without spaces ("A、…B、…", `inline`), with `options` null in the last two.

    python bench/load_speed.py                    # 2,000 items, best of 5, every shape
    python bench/load_speed.py --items 500 --repeat 9 --shape given
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from harness_overhead import make_items, write_jsonl  # noqa: E402 - sys.path is set first

from medgap.datasets import load_file  # noqa: E402 - sys.path is set first

SHAPES = ("given", "lines", "inline")


def shaped(items: list[dict], shape: str) -> list[dict]:
    """The items with their options moved into the question text as `shape` says."""
    if shape == "given":
        return items
    joiner = "\n" if shape == "lines" else ""
    out = []
    for item in items:
        options = [f"{option[0]}、{option[3:]}" for option in item["options"]] if shape == "inline" else item["options"]
        question = f"{item['question']}\n{joiner.join(options)}"
        out.append({**item, "question": question, "options": None})
    return out


def json_lines(path: Path) -> list[dict]:
    with path.open("rb") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def best_of(repeat: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5, help="timed passes of each; the best is reported")
    parser.add_argument("--shape", choices=SHAPES, action="append", help="repeatable; default: every shape")
    args = parser.parse_args()
    items = make_items(args.items)
    print(f"{args.items} items, best of {args.repeat}")
    print(f"{'shape':<8} {'json.loads s':>12} {'load_file s':>12} {'ratio':>7}")
    with tempfile.TemporaryDirectory() as folder:
        for shape in args.shape or SHAPES:
            path = write_jsonl(Path(folder) / f"{shape}.jsonl", shaped(items, shape))
            samples = load_file(path)  # warm-up, and a check that every item loads as one sample
            assert len(samples) == args.items and all(s.options for s in samples), shape
            baseline = best_of(args.repeat, lambda path=path: json_lines(path))
            loader = best_of(args.repeat, lambda path=path: load_file(path))
            print(f"{shape:<8} {baseline:>12.4f} {loader:>12.4f} {loader / baseline:>6.1f}x")


if __name__ == "__main__":
    main()
