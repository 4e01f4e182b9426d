"""Rebuild the bundled demo data from the full shared data, in each source's own format.

    python -m medgap.datasets.demo.make_demo /path/to/shared/data

Rows are drawn with `random.Random(f"medgap-demo:{file}")` and copied verbatim in their original
order, so the demo is the same on every machine. The pick sizes suit a quick start on 2 CPU cores
with a small local model, where open items (long answers) cost the most.
"""

from __future__ import annotations

import csv
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = "medgap-demo"

CMMLU_SUBJECTS = {  # subject -> items
    "clinical_knowledge": 4,
    "professional_medicine": 4,
    "traditional_chinese_medicine": 4,
    "anatomy": 4,
}
MTCMB_FILES = {  # file -> items
    "TCM-ED-A.jsonl": 4,
    "TCM-ED-B.jsonl": 4,
    "TCM-SE-B.jsonl": 8,
    "TCM-SE-A.jsonl": 4,
    "TCM-FT.jsonl": 3,
}
CMB_CLIN_FILE = "CMB-test-qa.json"

SUBSET_NOTES = {
    "cmmlu": f"""
## medgap demo subset

This folder holds {sum(CMMLU_SUBJECTS.values())} rows of the subset described above, for medgap's quick start:
{", ".join(f"{k} test rows from `test/{s}.csv`" for s, k in CMMLU_SUBJECTS.items())}.

**Subset rule:** per subject file, `random.Random("{SEED}:<subject>.csv").sample(range(rows), k)`;
the chosen rows are copied verbatim (header kept, original row index in the first column) in
their original order. Built by `python -m medgap.datasets.demo.make_demo <shared data dir>`.

**Licence:** these rows remain under CC BY-NC-SA 4.0
(https://creativecommons.org/licenses/by-nc-sa/4.0/): non-commercial use, attribution to CMMLU
(Li et al., 2023, https://github.com/haonan-li/CMMLU), share-alike.
""",
    "mtcmb": f"""
## medgap demo subset

This folder holds {sum(MTCMB_FILES.values())} lines of the subset described above, for medgap's quick start:
{", ".join(f"{k} from `{f}`" for f, k in MTCMB_FILES.items())}.

**Subset rule:** per file, `random.Random("{SEED}:<file name>").sample(range(lines), k)`; the chosen
lines are copied verbatim in their original order. Built by
`python -m medgap.datasets.demo.make_demo <shared data dir>`.

**Licence:** CC-BY 4.0 (https://creativecommons.org/licenses/by/4.0/); credit MTCMB,
https://github.com/Wayyuanyuan/MTCMB, doi:10.5281/zenodo.20465629.
""",
    "cmb_clin": """
## medgap demo subset

This folder holds ONE case of the subset described above (3 QA pairs), for medgap's quick start.

**Subset rule:** among the cases with exactly three QA pairs, the one with the shortest
`description`; written as a one-element JSON array with `json.dumps(..., ensure_ascii=False,
indent=4)` like the source. Built by `python -m medgap.datasets.demo.make_demo <shared data dir>`.

**Licence:** Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0); credit CMB
(Wang et al., 2023), https://github.com/FreedomIntelligence/CMB.
""",
}


def _pick(count: int, k: int, name: str) -> list[int]:
    return sorted(random.Random(f"{SEED}:{name}").sample(range(count), k))


def _write_source(source_dir: Path, out_dir: Path, note: str) -> None:
    text = (source_dir / "SOURCE.md").read_text(encoding="utf-8").rstrip("\n")
    (out_dir / "SOURCE.md").write_text(f"{text}\n{note}", encoding="utf-8")


def build_cmmlu(shared: Path, out: Path) -> None:
    source_dir, out_dir = shared / "cmmlu_medical", out / "cmmlu"
    (out_dir / "test").mkdir(parents=True, exist_ok=True)
    for subject, k in CMMLU_SUBJECTS.items():
        name = f"{subject}.csv"
        with (source_dir / "test" / name).open(encoding="utf-8", newline="") as handle:
            header, *rows = list(csv.reader(handle))
        with (out_dir / "test" / name).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows[i] for i in _pick(len(rows), k, name))
    _write_source(source_dir, out_dir, SUBSET_NOTES["cmmlu"])


def build_mtcmb(shared: Path, out: Path) -> None:
    source_dir, out_dir = shared / "mtcmb", out / "mtcmb"
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, k in MTCMB_FILES.items():
        lines = (source_dir / name).read_text(encoding="utf-8").splitlines(keepends=True)
        (out_dir / name).write_text("".join(lines[i] for i in _pick(len(lines), k, name)), encoding="utf-8")
    _write_source(source_dir, out_dir, SUBSET_NOTES["mtcmb"])


def build_cmb_clin(shared: Path, out: Path) -> None:
    source_dir, out_dir = shared / "cmb_clin", out / "cmb_clin"
    out_dir.mkdir(parents=True, exist_ok=True)
    cases = json.loads((source_dir / CMB_CLIN_FILE).read_text(encoding="utf-8"))
    case = min((c for c in cases if len(c["QA_pairs"]) == 3), key=lambda c: len(c["description"]))
    (out_dir / CMB_CLIN_FILE).write_text(json.dumps([case], ensure_ascii=False, indent=4), encoding="utf-8")
    _write_source(source_dir, out_dir, SUBSET_NOTES["cmb_clin"])


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        sys.exit("usage: python -m medgap.datasets.demo.make_demo <shared data dir>")
    shared = Path(argv[0])
    build_cmmlu(shared, HERE)
    build_mtcmb(shared, HERE)
    build_cmb_clin(shared, HERE)


if __name__ == "__main__":
    main(sys.argv[1:])
