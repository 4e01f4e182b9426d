"""Do two runs of the same model give the same answers? Row by row, from a medgap database.

Used to check that the in-process backend and the same GGUF behind an OpenAI-compatible server
agree (issue 19), and that a run killed and resumed stores what an uninterrupted run stores:

    python bench/same_answers.py --db runs.db RUN_A RUN_B [--db-b other.db]

Prints, over the rows both runs hold: choice rows with the same chosen letters, generated rows
(open, fill, extraction, record) with identical text, rows identical in every byte of the response
text and log-probabilities, the largest difference between the two runs' letter log-probabilities,
and every row whose answer differs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medgap.records import CHOICE_KINDS, Row
from medgap.store import Store


def compare(a: list[Row], b: list[Row]) -> dict:
    left = {(r.sample_id, r.permutation): r for r in a}
    right = {(r.sample_id, r.permutation): r for r in b}
    shared = [key for key in left if key in right]
    choice = [k for k in shared if left[k].kind in CHOICE_KINDS]
    written = [k for k in shared if left[k].kind not in CHOICE_KINDS]
    same_choice = [k for k in choice if left[k].score.extracted == right[k].score.extracted]
    same_text = [k for k in written if left[k].response.text == right[k].response.text]
    identical = [k for k in shared if left[k].response.text == right[k].response.text
                 and left[k].response.logprobs == right[k].response.logprobs]
    gaps = [abs(left[k].response.logprobs[letter] - right[k].response.logprobs[letter])
            for k in choice if left[k].response.logprobs and right[k].response.logprobs
            for letter in left[k].response.logprobs if letter in right[k].response.logprobs]
    return {
        "rows": (len(shared), len(left), len(right)),
        "choice": (len(same_choice), len(choice)),
        "text": (len(same_text), len(written)),
        "identical": (len(identical), len(shared)),
        "max_logprob_gap": max(gaps) if gaps else None,
        "differ": [(k, left[k].kind, left[k].score.extracted, right[k].score.extracted)
                   for k in choice if k not in same_choice]
                  + [(k, left[k].kind, left[k].response.text[:60], right[k].response.text[:60])
                     for k in written if k not in same_text],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="medgap.db")
    parser.add_argument("--db-b", default=None, help="database of RUN_B (default: --db)")
    parser.add_argument("run_a")
    parser.add_argument("run_b")
    args = parser.parse_args()
    with Store(args.db) as store:
        rows_a = store.rows(args.run_a)
    with Store(args.db_b or args.db) as store:
        rows_b = store.rows(args.run_b)
    result = compare(rows_a, rows_b)
    shared, in_a, in_b = result["rows"]
    print(f"{args.run_a} vs {args.run_b}: {shared} rows in both ({in_a} and {in_b} stored)")
    print(f"  choice rows, same letters:      {result['choice'][0]} of {result['choice'][1]}")
    print(f"  generated rows, identical text: {result['text'][0]} of {result['text'][1]}")
    print(f"  rows with identical response text and log-probs: {result['identical'][0]} of {result['identical'][1]}")
    if result["max_logprob_gap"] is not None:
        print(f"  largest letter log-prob gap:    {result['max_logprob_gap']:.4f} nats")
    for key, kind, a, b in result["differ"]:
        print(f"  differs: {key[0]} (order {key[1]}, {kind}): {a!r} vs {b!r}")


if __name__ == "__main__":
    main()
