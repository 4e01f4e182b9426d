"""Items/s against the number of Ray workers, the driver's own ceiling, and a 10-node projection.

Every figure is a `run_eval` over a generated MedBench suite into a fresh SQLite store, timed from
the first request to the last row committed (actors started inside the timing; Ray itself is
started once, before). The baseline is the in-process executor on the same model in the same run:

- cpu mock   `mock/first?busy_ms=B`: each call keeps one core busy for B ms (a CPU-bound model);
             one request at a time per worker, as a local model;
- api mock   `mock/first?delay_ms=D`: each call waits D ms without using the CPU (an API);
             16 requests in flight in all, shared by the workers (an endpoint's limit);
- local      `local/default?n_threads=1`, demo-robustness with `--limit 1` (35 attempts), the model
             loaded inside the timing by each worker (in-process: n_threads 1 and every core);
- driver     `mock/first` at no cost: how many rows/s the driver scores and stores from Ray (2 workers,
             64 in flight each), next to the same run in process, and to `record only`: the
             driver's scoring and storing fed ready answers, with no executor at all.

    python bench/ray_scaling.py                    # all of it (the local rows take a few minutes)
    python bench/ray_scaling.py --skip-local --items 400 --driver-items 20000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import ray

from medgap.evaluate import chain_for, generation_config, open_backend, plan_run, settle
from medgap.executors.ray import RayExecutor
from medgap.runner import Recorder, RowSink, pending_attempts, run_eval
from medgap.store import Store

API_CONCURRENCY = 16


def write_suite(path: Path, items: int) -> Path:
    lines = [json.dumps({"question": f"第{i}题：患者男，{20 + i % 60}岁，首选的处理措施是",
                         "options": ["A. 甲方案", "B. 乙方案", "C. 丙方案", "D. 丁方案", "E. 戊方案"],
                         "answer": "ABCDE"[i % 5], "other": {"source": "Med-Exam", "id": i}}, ensure_ascii=False)
             for i in range(items)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Bench:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.store = Store(folder / "bench.db")
        self.count = 0

    def time_run(self, model: str, suite: str, *, workers: int | None, concurrency: int, limit: int | None = None,
                 permutations: int | None = None) -> tuple[int, float, float]:
        """(attempts, seconds, of which starting actors) of one run; workers None = in process."""
        self.count += 1
        config, samples = plan_run(model, suite, run_id=f"r{self.count}", limit=limit, permutations=permutations)
        backend = open_backend(config, max_concurrency=concurrency)
        gen = generation_config(config, backend)
        settle(config, backend, gen)
        self.store.create_run(config, samples)
        executor = None
        if workers:
            executor = RayExecutor(config, gen, workers=workers, concurrency=concurrency)
        started = time.perf_counter()
        written = asyncio.run(run_eval(config, samples, backend, self.store, gen=gen, concurrency=concurrency,
                                       solvers=chain_for(config), executor=executor))
        seconds = time.perf_counter() - started
        assert all(not row.errored for row in written), "a bench run had failed rows"
        return len(written), seconds, executor.startup_s if executor else 0.0

    def record_only(self, suite: str, permutations: int) -> tuple[int, float, float]:
        """The driver's scoring and storing of ready answers, with no executor and no model."""
        self.count += 1
        config, samples = plan_run("mock/first", suite, run_id=f"r{self.count}", permutations=permutations)
        backend = open_backend(config)
        settle(config, backend, generation_config(config, backend))
        self.store.create_run(config, samples)
        from medgap.records import Response

        work = list(pending_attempts(samples, config, set()))
        answers = [Response(text=f"答案：{attempt.order[0] if attempt.order else 'A'}") for _, attempt in work]

        async def feed() -> None:
            record = Recorder(config, generation_config(config, backend), RowSink(self.store, lambda row: None))
            for n, ((sample, attempt), response) in enumerate(zip(work, answers, strict=True)):
                await record(sample, attempt, response, {})
                if n % 64 == 63:
                    await asyncio.sleep(0)  # let the sink commit, as it does between arrivals
            record.sink.flush()

        started = time.perf_counter()
        asyncio.run(feed())
        return len(work), time.perf_counter() - started, 0.0


def rate(timing: tuple[int, float, float]) -> float:
    """Items/s once the workers are up (starting an actor is a fixed cost per run, timed apart)."""
    attempts, seconds, startup = timing
    return attempts / (seconds - startup)


def row(label: str, workers: str, timing: tuple[int, float, float], baseline: float | None) -> str:
    attempts, seconds, startup = timing
    ratio = f"{rate(timing) / baseline:.2f}" if baseline else "1.00"
    return f"| {label} | {workers} | {attempts} | {seconds:.1f} | {startup:.1f} | {rate(timing):,.1f} | {ratio} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=200, help="items of the cpu and api mock suites (1 order each)")
    parser.add_argument("--busy-ms", type=float, default=20.0)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--workers", default="1,2,4", help="worker counts to time")
    parser.add_argument("--driver-items", type=int, default=4000, help="items of the driver suite, x5 option orders")
    parser.add_argument("--skip-local", action="store_true", help="leave out the embedded model (minutes)")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    cores = os.cpu_count() or 1
    ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
    lines = ["| model | workers | attempts | seconds | of which actors start | items/s after start | x in-process |",
             "|---|---|---|---|---|---|---|"]
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp))
        baseline = 0.0

        def add(key: str, label: str, workers: str, timing: tuple[int, float, float]) -> None:
            figures[key] = rate(timing)
            lines.append(row(label, workers, timing, baseline or None))

        suite = str(write_suite(Path(tmp) / "Med-Exam.jsonl", args.items))
        for label, model, per_worker, total in (
            ("cpu mock", f"mock/first?busy_ms={args.busy_ms:g}", 1, 1),
            (f"api mock, {API_CONCURRENCY} in flight", f"mock/first?delay_ms={args.delay_ms:g}", 0, API_CONCURRENCY),
        ):
            baseline = 0.0
            add(f"{label} in-process", label, "in-process",
                bench.time_run(model, suite, workers=None, concurrency=total, permutations=1))
            baseline = figures[f"{label} in-process"]
            for w in counts:  # cpu: one request per worker; api: the endpoint's limit shared by the workers
                add(f"{label} {w}", label, f"ray {w}",
                    bench.time_run(model, suite, workers=w, concurrency=per_worker * w or total, permutations=1))
        if not args.skip_local:
            one, baseline = "local/default?n_threads=1", 0.0
            add("local in-process", "local, 1 thread", "in-process",
                bench.time_run(one, "demo-robustness", workers=None, concurrency=1, limit=1))
            baseline = figures["local in-process"]
            add("local in-process all cores", f"local, {cores} threads", "in-process",
                bench.time_run("local/default", "demo-robustness", workers=None, concurrency=1, limit=1))
            for w in [c for c in counts if c <= cores]:
                add(f"local {w}", "local, 1 thread each", f"ray {w}",
                    bench.time_run(one, "demo-robustness", workers=w, concurrency=w, limit=1))
        (Path(tmp) / "driver").mkdir()
        driver_suite = str(write_suite(Path(tmp) / "driver" / "Med-Exam.jsonl", args.driver_items))
        baseline = 0.0
        add("driver in-process", "driver: mock, no cost", "in-process",
            bench.time_run("mock/first", driver_suite, workers=None, concurrency=64, permutations=5))
        baseline = figures["driver in-process"]
        add("driver ray", "driver: mock, no cost", "ray 2",
            bench.time_run("mock/first", driver_suite, workers=2, concurrency=128, permutations=5))
        add("record only", "driver: record only", "–", bench.record_only(driver_suite, permutations=5))
        bench.store.close()
    ray.shutdown()
    print(f"{platform.processor() or platform.machine()}, {cores} cores, Python {platform.python_version()}, "
          f"Ray {ray.__version__}")
    print("\n".join(lines))
    print()
    print(projection(figures, counts))


def projection(figures: dict[str, float], counts: list[int]) -> str:
    """A 10-node cluster from the figures above: workers scale as measured here, up to the driver."""
    ceiling = figures["driver ray"]
    out = [f"driver ceiling: {ceiling:,.0f} rows/s from Ray (record only: {figures['record only']:,.0f} rows/s)"]
    if "local 1" in figures:
        per_worker = figures["local 1"]
        best = max(c for c in counts if f"local {c}" in figures)
        efficiency = figures[f"local {best}"] / (best * per_worker)
        for cores in (16, 64):
            workers = 10 * cores
            rate = workers * per_worker * efficiency
            out.append(f"10 nodes x {cores} cores, local 1.5B workers on 1 thread: {workers} workers x "
                       f"{per_worker:.2f} items/s x {efficiency:.2f} (measured {best}-worker efficiency) = "
                       f"{rate:,.0f} items/s, {rate / ceiling:.1%} of the driver ceiling")
    per_replica = 20.0  # completions/s of one GPU replica serving many requests at once (an assumption, not measured)
    out.append(f"10 GPU nodes serving one replica each at {per_replica:.0f} completions/s (openai/ workers): "
               f"{10 * per_replica:.0f} items/s, {10 * per_replica / ceiling:.0%} of the driver ceiling; one driver "
               f"saturates at about {ceiling / per_replica:.0f} such replicas")
    return "\n".join(out)


if __name__ == "__main__":
    main()
