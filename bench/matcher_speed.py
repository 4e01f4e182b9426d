"""Speed of key-point matching: answers per second with about 10 points each, for the default
matcher against the `lexical` baseline timed in the same run (the issue 14 target: the default
matches at least 10 answers/s on 2 cores).

The answers and points are the labelled development set's (`bench/labels/coverage.jsonl`: real
model answers and hand-written ones, CMB-Clin and MTCMB-FT points); each answer is matched against
its item's points topped up with the next items' points to at least `--points` points. Caches are
cleared before each timed pass, so every point and answer is analysed afresh.

    python bench/matcher_speed.py                 # 3 passes over every answer
    python bench/matcher_speed.py --repeat 5 --points 10
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from medgap.scoring import matching, medical  # noqa: E402 - sys.path is set first
from medgap.scoring.matching import DEFAULT_MATCH, get_matcher  # noqa: E402 - sys.path is set first


def jobs(points_each: int) -> list[tuple[list[str], str]]:
    text = (ROOT / "bench" / "labels" / "coverage.jsonl").read_text(encoding="utf-8")
    lines = [json.loads(x) for x in text.splitlines() if x.strip()]
    out = []
    for i, line in enumerate(lines):
        points = list(line["points"])
        j = i + 1
        while len(points) < points_each:
            points += lines[j % len(lines)]["points"]
            j += 1
        out.append((points[: max(points_each, len(line["points"]))], line["answer"]))
    return out


KEEP = {"jieba_tokenizer", "tokenizer", "_pattern", "_extra_pattern", "_hyponym_pattern"}  # loaded once per process


def clear_caches() -> None:
    """Forget every analysed point, answer and word (the dictionaries stay loaded)."""
    for module in (matching, medical):
        for name in dir(module):
            cached = getattr(getattr(module, name), "cache_clear", None)
            if cached is not None and name not in KEEP:
                cached()


def timed(method: str, work: list[tuple[list[str], str]], repeat: int) -> float:
    """Best answers/s over `repeat` passes with cold caches."""
    matcher = get_matcher(method)
    matcher.match(*work[0])  # load jieba and dictionaries outside the timing
    best = 0.0
    for _ in range(repeat):
        clear_caches()
        start = time.perf_counter()
        for points, answer in work:
            matcher.match(points, answer)
        best = max(best, len(work) / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--points", type=int, default=10)
    args = parser.parse_args()
    work = jobs(args.points)
    mean_points = sum(len(p) for p, _ in work) / len(work)
    mean_chars = sum(len(a) for _, a in work) / len(work)
    print(f"{len(work)} answers (mean {mean_chars:.0f} characters), mean {mean_points:.1f} points each; "
          f"best of {args.repeat} passes with cold caches")
    base = timed("lexical", work, args.repeat)
    rows = [("lexical (baseline)", base)]
    if DEFAULT_MATCH != "lexical":
        rows.append((f"{DEFAULT_MATCH} (default)", timed(DEFAULT_MATCH, work, args.repeat)))
    for name, rate in rows:
        print(f"{name:<22} {rate:8.1f} answers/s   {rate / base:5.2f}x lexical   "
              f"{'meets' if rate >= 10 else 'MISSES'} the 10 answers/s target")


if __name__ == "__main__":
    main()
