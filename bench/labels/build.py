"""Assemble the labelled development set (issue 14) from its sources into two JSONL files:

- coverage.jsonl: one line per (answer, item) with the item's key points (as medgap derives them) and
  a human coverage label and one-line reason per point (KEYPOINT_COVERAGE.md);
- errors.jsonl: one line per answer with a human error label (ERROR_CODEBOOK.md) and reason; `correct`
  where the answer is fully right (it then must get no error).

Sources: hand-written answers (`hand_answers.py`) and the embedded model's answers (`local/default`,
runs `lab-*` in a medgap database made by `gen.sh`) labelled in `model_labels.py`. Every line is
self-contained (the sample and the response travel with it), so the agreement bench needs neither
the shared data nor the database. Run from the repository root on the development machine:

    python bench/labels/build.py --db /tmp/i14-labels.db --data ../shared/data

The split is fixed by item id (`split_of`): about a third of the items are held out and never
used to tune the matcher or the pre-labeller.
"""

from __future__ import annotations

import argparse
import json
import sys
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

from hand_answers import HAND, HAND_ERRORS  # noqa: E402 - sys.path is set first
from model_labels import COVERAGE, ERRORS  # noqa: E402 - sys.path is set first

from medgap.records import Attempt, Response, Row, Sample  # noqa: E402 - sys.path is set first
from medgap.scoring import score  # noqa: E402 - sys.path is set first
from medgap.scoring.keypoints import key_points  # noqa: E402 - sys.path is set first


def split_of(item_id: str) -> str:
    """Held out when the CRC-32 of the item id is divisible by 3 (fixed before any tuning)."""
    return "heldout" if zlib.crc32(item_id.encode("utf-8")) % 3 == 0 else "dev"


def load_samples(data: Path) -> dict[str, Sample]:
    from medgap.datasets import cmb_clin, mtcmb

    samples = {s.id: s for s in cmb_clin.load(data / "cmb_clin" / "CMB-test-qa.json")}
    samples.update({s.id: s for s in mtcmb.load(data / "mtcmb" / "TCM-FT.jsonl")})
    return samples


def hand_row(sample: Sample, answer: str) -> Row:
    attempt = Attempt(sample_id=sample.id)
    response = Response(text=answer)
    return Row(run_id="hand", sample_id=sample.id, permutation=0, task=sample.task, dimension=sample.dimension,
               kind=sample.kind, attempt=attempt, response=response, score=score(sample, attempt, response))


def coverage_line(uid: str, sample: Sample, model: str, answer: str, labels, provenance: str) -> dict:
    points = key_points(sample)
    if len(points) != len(labels):
        raise SystemExit(f"{uid}: {len(labels)} labels for {len(points)} points of {sample.id}")
    return {"id": uid, "item_id": sample.id, "split": split_of(sample.id), "model": model, "provenance": provenance,
            "sample": sample.model_dump(mode="json"), "answer": answer, "points": points,
            "covered": [bool(c) for c, _ in labels], "reasons": [r for _, r in labels]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="/tmp/i14-labels.db")
    parser.add_argument("--data", default=str(HERE.parents[1] / ".." / "shared" / "data"))
    args = parser.parse_args()
    from medgap.store.sqlite import Store

    samples = load_samples(Path(args.data))
    coverage, errors = [], []
    counts: dict[str, int] = {}
    if len(HAND_ERRORS) != len(HAND):
        raise SystemExit(f"{len(HAND_ERRORS)} hand error labels for {len(HAND)} hand answers")
    for (item_id, model, answer, labels), (category, reason) in zip(HAND, HAND_ERRORS, strict=True):
        counts[item_id] = counts.get(item_id, 0) + 1
        uid = f"{model}:{item_id}:{counts[item_id]}"
        sample = samples[item_id]
        coverage.append(coverage_line(uid, sample, model, answer, labels, "hand-written for medgap (issue 14)"))
        errors.append({"id": uid, "item_id": item_id, "split": split_of(item_id), "model": model,
                       "provenance": "hand-written for medgap (issue 14)", "sample": sample.model_dump(mode="json"),
                       "row": hand_row(sample, answer).model_dump(mode="json"), "max_tokens": None,
                       "label": category, "reason": reason})
    store = Store(args.db)
    for run_id in sorted({run for run, _ in [*COVERAGE, *ERRORS]}):
        config = store.run_config(run_id)
        run_samples = {s.id: s for s in store.samples(run_id)}
        rows = {r.sample_id: r for r in store.iter_rows(run_id)}
        provenance = f"{config.model} answer, medgap run {run_id} ({config.suite}, max_tokens {config.generation.get('max_tokens')})"
        for (run, item_id), labels in COVERAGE.items():
            if run == run_id:
                coverage.append(coverage_line(f"{config.model}:{item_id}", run_samples[item_id], config.model,
                                              rows[item_id].response.text, labels, provenance))
        for (run, item_id), (category, reason) in ERRORS.items():
            if run == run_id:
                row = rows[item_id]
                errors.append({"id": f"{config.model}:{item_id}", "item_id": item_id, "split": split_of(item_id),
                               "model": config.model, "provenance": provenance,
                               "sample": run_samples[item_id].model_dump(mode="json"),
                               "row": row.model_dump(mode="json"),
                               "max_tokens": config.generation.get("max_tokens"),
                               "label": category, "reason": reason})
    for path, lines in ((HERE / "coverage.jsonl", coverage), (HERE / "errors.jsonl", errors)):
        with path.open("w", encoding="utf-8") as handle:
            for line in lines:
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")
    pairs = sum(len(c["points"]) for c in coverage)
    held = sum(len(c["points"]) for c in coverage if c["split"] == "heldout")
    print(f"coverage: {len(coverage)} answers, {pairs} (answer, point) labels, {held} held out")
    real = [e for e in errors if not e["model"].startswith("hand/")]
    print(f"errors: {len(errors)} answers ({len(real)} real, {sum(e['label'] != 'correct' for e in real)} of them "
          f"wrong), {sum(e['split'] == 'heldout' for e in errors)} held out")


if __name__ == "__main__":
    main()
