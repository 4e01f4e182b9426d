"""Agreement of medgap's automatic key-point coverage and error pre-labels with human labels.

Reads the labelled development set in `bench/labels/` (see its README: real answers of the
embedded model and hand-written answers, labelled by KEYPOINT_COVERAGE.md and ERROR_CODEBOOK.md,
split by item id into a dev part and a held-out part never used for tuning) and reports, per part:

coverage (coverage.jsonl)
  - item-level Spearman between automatic and human coverage per answer (share of points covered;
    ties averaged), and point-level Cohen's kappa and accuracy;
  - each model's macro-recall (mean per-answer coverage), automatic against human;
error labels (errors.jsonl; every row re-scored with the current scorer, then pre-labelled)
  - agreement on the primary category of the answers people judged wrong, Cohen's kappa over all
    answers (`correct` is a category: a fully correct answer must get no error), total variation
    distance between the two category distributions, and the confusion table.

Targets of issue 14 (held-out part): Spearman >= 0.8, each model's macro-recall within 0.05 of the
human one, error agreement >= 70 %, total variation <= 0.25.

    python bench/agreement.py                   # the default matcher
    python bench/agreement.py --match lexical   # another matcher, for comparison
    python bench/agreement.py --json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scipy.stats import spearmanr  # noqa: E402 - sys.path is set first

from medgap.analysis.prelabel_rules import rule_label  # noqa: E402 - sys.path is set first
from medgap.records import Response, Row, Sample  # noqa: E402 - sys.path is set first
from medgap.scoring import score_with  # noqa: E402 - sys.path is set first
from medgap.scoring.matching import DEFAULT_MATCH, get_matcher  # noqa: E402 - sys.path is set first

LABELS = ROOT / "bench" / "labels"
PARTS = ("dev", "heldout")
CORRECT = "correct"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def cohen_kappa(a: list, b: list) -> float | None:
    n = len(a)
    if not n:
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb[k] for k in set(ca) | set(cb)) / (n * n)
    return None if expected == 1 else (observed - expected) / (1 - expected)


def total_variation(a: list, b: list) -> float:
    ca, cb = Counter(a), Counter(b)
    return 0.5 * sum(abs(ca[k] / len(a) - cb[k] / len(b)) for k in set(ca) | set(cb))


def coverage_report(lines: list[dict], matcher) -> dict:
    out = {}
    for part in PARTS:
        chosen = [line for line in lines if line["split"] == part]
        human, auto, point_h, point_a, misses = [], [], [], [], []
        per_model: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for line in chosen:
            sample = Sample.model_validate(line["sample"])
            result = matcher.match(line["points"], line["answer"], sample)
            h = sum(line["covered"]) / len(line["points"])
            a = sum(result.covered) / len(line["points"])
            human.append(h)
            auto.append(a)
            point_h += line["covered"]
            point_a += result.covered
            per_model[line["model"]].append((h, a))
            scores = result.scores or [None] * len(line["points"])
            for point, hc, ac, sc, why in zip(line["points"], line["covered"], result.covered, scores,
                                             line["reasons"], strict=True):
                if hc != ac:
                    misses.append(f"{line['id']}: human {'covered' if hc else 'missed'}, auto score {sc} | "
                                  f"{point[:50]} | {why}")
        rho = spearmanr(human, auto).statistic if len(set(human)) > 1 and len(set(auto)) > 1 else None
        out[part] = {
            "answers": len(chosen),
            "points": len(point_h),
            "spearman": None if rho is None else round(float(rho), 3),
            "point_kappa": round(cohen_kappa(point_h, point_a), 3) if point_h else None,
            "point_accuracy": (round(sum(x == y for x, y in zip(point_h, point_a, strict=True)) / len(point_h), 3)
                               if point_h else None),
            "macro_recall": {model: {"human": round(sum(h for h, _ in pairs) / len(pairs), 3),
                                     "auto": round(sum(a for _, a in pairs) / len(pairs), 3),
                                     "answers": len(pairs)}
                             for model, pairs in sorted(per_model.items())},
            "point_disagreements": misses,
        }
    return out


async def auto_error_label(line: dict, matcher) -> tuple[str, str, str]:
    """(category or `correct`, confidence, rationale) the pipeline gives this answer now."""
    from medgap.analysis.errors import is_wrong

    sample = Sample.model_validate(line["sample"])
    row = Row.model_validate(line["row"])
    response = Response(text=row.response.text, completion_tokens=row.response.completion_tokens)
    scored = await score_with(sample, row.attempt, response, matcher if sample.kind in ("open", "record") else None)
    row = row.model_copy(update={"response": response, "score": scored})
    if not is_wrong(row):
        return CORRECT, "", "scored fully correct"
    label = rule_label(row, sample, line.get("max_tokens"))
    return label.category, label.confidence, label.rationale


def error_report(lines: list[dict], matcher) -> dict:
    import asyncio

    out = {}
    for part in PARTS:
        chosen = [line for line in lines if line["split"] == part]
        autos = [asyncio.run(auto_error_label(line, matcher)) for line in chosen]
        human = [line["label"] for line in chosen]
        auto = [a[0] for a in autos]
        wrong = [(h, a) for h, a in zip(human, auto, strict=True) if h != CORRECT]
        real = [(h, a) for line, h, a in zip(chosen, human, auto, strict=True)
                if h != CORRECT and not line["model"].startswith("hand/")]
        confusion: dict[str, Counter] = defaultdict(Counter)
        for h, a in zip(human, auto, strict=True):
            confusion[h][a] += 1
        out[part] = {
            "answers": len(chosen),
            "wrong": len(wrong),
            "agreement_wrong": round(sum(h == a for h, a in wrong) / len(wrong), 3) if wrong else None,
            "real_wrong": len(real),
            "agreement_real_wrong": round(sum(h == a for h, a in real) / len(real), 3) if real else None,
            "kappa": None if not chosen else round(cohen_kappa(human, auto), 3),
            "total_variation": round(total_variation(human, auto), 3) if chosen else None,
            "low_confidence": sum(1 for a in autos if a[1] == "low"),
            "human": dict(Counter(human)),
            "auto": dict(Counter(auto)),
            "confusion": {h: dict(row) for h, row in sorted(confusion.items())},
            "disagreements": [{"id": line["id"], "human": line["label"], "auto": a[0], "why": a[2][:120]}
                              for line, a in zip(chosen, autos, strict=True) if line["label"] != a[0]],
        }
    return out


def main() -> None:
    global PARTS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--match", default=DEFAULT_MATCH, help="matcher to evaluate (default: medgap's default)")
    parser.add_argument("--labels", type=Path, default=LABELS)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--show", action="store_true", help="list every error-label disagreement")
    parser.add_argument("--part", choices=("dev", "heldout"),
                        help="report one part only (tune on dev without seeing held-out)")
    args = parser.parse_args()
    matcher = get_matcher(args.match)
    PARTS = (args.part,) if args.part else PARTS
    coverage = coverage_report(read_jsonl(args.labels / "coverage.jsonl"), matcher)
    errors = error_report(read_jsonl(args.labels / "errors.jsonl"), matcher)
    result = {"match": args.match, "coverage": coverage, "errors": errors}
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=1))
        return
    print(f"matcher: {args.match}")
    for part in PARTS:
        c, e = coverage[part], errors[part]
        print(f"\n[{part}] coverage: {c['answers']} answers, {c['points']} points; Spearman {c['spearman']}, "
              f"point kappa {c['point_kappa']}, point accuracy {c['point_accuracy']}")
        for model, m in c["macro_recall"].items():
            gap = m["auto"] - m["human"]
            print(f"  macro-recall {model:<18} human {m['human']:.3f}  auto {m['auto']:.3f}  "
                  f"(diff {gap:+.3f}, {m['answers']} answers)")
        print(f"[{part}] errors: {e['answers']} answers ({e['wrong']} wrong by people); agreement on wrong "
              f"{e['agreement_wrong']}, kappa {e['kappa']}, total variation {e['total_variation']}, "
              f"{e['low_confidence']} low-confidence; on the {e['real_wrong']} wrong model answers "
              f"{e['agreement_real_wrong']}")
        print(f"  human {e['human']}\n  auto  {e['auto']}")
        for h, row in e["confusion"].items():
            print(f"  {h:<38} -> {row}")
        if args.show:
            for line in c["point_disagreements"]:
                print(f"    {line}")
            for d in e["disagreements"]:
                print(f"    {d['id']}: human {d['human']}, auto {d['auto']} ({d['why']})")


if __name__ == "__main__":
    main()
