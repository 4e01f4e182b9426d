"""`medgap results` and `medgap report` on a store of 1,000,000 rows, in SQLite and in PostgreSQL.

One run of N rows (N/5 single-choice items x 5 option orders, spread over the five MedBench
dimensions, a realistic MedBench prompt in every row) is written straight into each backend in
batches of 10,000 (templates filled in as text: generating a million rows takes seconds, not a
model run). Then each command runs as a child process; its wall time and peak RSS come from the
child's own rusage. Ratios are PostgreSQL / SQLite, measured in the same run.

    python bench/store_scale.py                          # 1,000,000 rows; PostgreSQL via a throwaway cluster
    python bench/store_scale.py --rows 100000 --postgres postgresql://me@host/db
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medgap.records import Attempt, Gold, Message, Response, Row, RunConfig, Sample, Score, Source
from medgap.solvers import prompts
from medgap.store import Store
from medgap.store.sqlite import INSERT_ROW

RUN_ID = "million"
ORDERS = 5
BATCH = 10_000
DIMENSIONS = ("knowledge_qa", "language_understanding", "language_generation", "complex_reasoning",
              "safety_ethics")
SID = "__SID__"


def templates() -> tuple[list[str], list[list[tuple]]]:
    """Per dimension: a sample's JSON and its five rows' column values, with SID where the id goes."""
    samples, rows = [], []
    options = {"A": "腹水", "B": "清蛋白", "C": "血电解质", "D": "凝血酶原时间", "E": "肝性脑病"}
    for d, dimension in enumerate(DIMENSIONS):
        sample = Sample(id=SID, source=Source(dataset="bench"), task=f"bench-{dimension}", dimension=dimension,
                        kind="single", question=f"{SID}：对评估肝硬化患者预后意义不大的是", options=options,
                        gold=Gold(letters=["C"]))
        samples.append(sample.model_dump_json())
        per_order = []
        for p in range(ORDERS):
            order = list(options)[p:] + list(options)[:p]
            shown = {letter: options[o] for letter, o in zip(options, order, strict=True)}
            prompt = prompts.render("single", sample.question, shown, None)
            gold = "ABCDE"[order.index("C")]
            picked = "ABCDE"[(d + p) % 5]
            right = picked == gold
            row = Row(run_id=RUN_ID, sample_id=SID, permutation=p, task=sample.task, dimension=dimension,
                      kind="single",
                      attempt=Attempt(sample_id=SID, permutation=p, order=order, options=shown, gold_letters=[gold],
                                      messages=[Message(role="user", content=prompt)]),
                      response=Response(text=f"答案：{picked}", latency_s=0.4 + 0.01 * p, prompt_tokens=120,
                                        completion_tokens=3),
                      score=Score(extracted=picked, value=float(right),
                                  details={"tp": int(right), "fp": int(not right), "fn": int(not right)}))
            per_order.append((p, dimension, sample.task, "single", float(right), None, row.model_dump_json()))
        rows.append(per_order)
    return samples, rows


def fill(store: Store, total: int) -> float:
    """Write one run of `total` rows; returns seconds."""
    started = time.perf_counter()
    items = total // ORDERS
    config = RunConfig(run_id=RUN_ID, model="mock/bench", suite="bench", permutations=ORDERS,
                       created="2026-01-01T00:00:00+00:00")
    store.create_run(config, [], attempts=items * ORDERS)
    sample_texts, row_values = templates()
    for start in range(0, items, BATCH // ORDERS):
        ids = [f"b{i:07d}" for i in range(start, min(items, start + BATCH // ORDERS))]
        with store.db:
            store.db.begin()
            store.db.executemany("INSERT INTO samples VALUES (?, ?, ?, ?)",
                                 [(RUN_ID, sid, start + n, sample_texts[(start + n) % 5].replace(SID, sid))
                                  for n, sid in enumerate(ids)])
            store.db.executemany(INSERT_ROW, [
                (RUN_ID, sid, p, dim, task, kind, value, error, text.replace(SID, sid))
                for n, sid in enumerate(ids)
                for p, dim, task, kind, value, error, text in row_values[(start + n) % 5]])
    with store.db:
        store.db.execute("UPDATE run_state SET status = 'complete' WHERE run_id = ?", (RUN_ID,))
    return time.perf_counter() - started


def timed(command: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of a child process."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {child.stderr.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--postgres", help="an empty PostgreSQL database (default: a throwaway local cluster)")
    args = parser.parse_args()
    medgap = [sys.executable, "-m", "medgap"]
    results: dict[str, dict[str, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        cluster = None
        pg = args.postgres
        if pg is None:
            from tests import postgres_cluster

            pg, cluster = postgres_cluster.start()
        try:
            for name, location in (("SQLite", str(Path(tmp) / "million.db")), ("PostgreSQL", pg)):
                with Store(location) as store:
                    write_s = fill(store, args.rows)
                figures = {"write": (write_s, 0.0)}
                figures["results"] = timed([*medgap, "results", RUN_ID, "--json", "--db", location])
                figures["report"] = timed([*medgap, "report", RUN_ID, "--db", location, "-o",
                                           str(Path(tmp) / f"{name}.html")])
                results[name] = figures
                print(f"{name}: {figures}", file=sys.stderr, flush=True)
        finally:
            if cluster is not None:
                postgres_cluster.stop(cluster)
    print(f"{args.rows:,} rows ({args.rows // ORDERS:,} items x {ORDERS} option orders), "
          f"{os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print("| step | SQLite s | SQLite peak MB | PostgreSQL s | PostgreSQL peak MB | PostgreSQL / SQLite time |")
    print("|---|---|---|---|---|---|")
    for step in ("write", "results", "report"):
        (ss, sm), (ps, pm) = results["SQLite"][step], results["PostgreSQL"][step]
        memory = (f"{sm:,.0f}", f"{pm:,.0f}") if step != "write" else ("–", "–")
        print(f"| {step} | {ss:,.1f} | {memory[0]} | {ps:,.1f} | {memory[1]} | {ps / ss:.2f} |")


if __name__ == "__main__":
    main()
