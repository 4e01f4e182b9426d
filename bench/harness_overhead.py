"""Harness overhead: how much slower than a bare aiohttp loop is each harness at sending the same
requests to an instant OpenAI-compatible server?

    python bench/harness_overhead.py                      # 2,000 items, concurrency 1 and 32
    python bench/harness_overhead.py --items 500 --concurrency 32

Generates N five-option single-choice items (MedBench JSONL), starts bench/fake_openai_server.py
in a subprocess, then times, at each concurrency: (a) a bare aiohttp loop posting the same chat
requests, inside this process and as a program of its own (bench/bare_aiohttp.py), (b) `medgap run`
as a subprocess with a fresh --db, printing its results table, (c) lm-evaluation-harness
(`local-chat-completions`) and inspect_ai (`openai-api/...`) when they are installed (bench-only
extras; `--extras-python` may point at another interpreter that has them). Prints seconds and the
ratios to both bare loops at the same concurrency. medgap's target: within 2x at concurrency 32.

With `--repeat N` every harness is timed N times, one run of each in turn (so that other load on the
machine falls on all of them alike), and the table gives the medians: seconds of wall time, and the
CPU seconds the client process used (the server's are not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import contextlib
import json
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bare_aiohttp import post_all

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(REPO))
SERVER = REPO / "bench" / "fake_openai_server.py"
BARE = REPO / "bench" / "bare_aiohttp.py"
LETTERS = "ABCDE"
MODEL = "bench-model"
STARTUP_NOTE = "fixed cost: process start, imports, loading, one request"
BARE_SCRIPT = "bare aiohttp (program)"
BARE_LOOP = "bare aiohttp (in-process)"


Measured = tuple[float, float]  # (wall seconds, client CPU seconds) of one run


@dataclass
class Timing:
    harness: str
    concurrency: int
    seconds: float | None  # None: skipped
    note: str = ""
    cpu: float | None = None


# items ---------------------------------------------------------------------------------------------
def make_items(n: int, seed: int = 0) -> list[dict]:
    """N MedBench-format five-option items with realistic Chinese lengths (deterministic)."""
    rng = random.Random(seed)
    organs = ["肝", "肾", "心", "肺", "脾", "胃", "胆", "胰", "甲状腺", "肾上腺"]
    findings = ["发热", "咳嗽", "胸痛", "腹痛", "黄疸", "水肿", "乏力", "头晕", "心悸", "呼吸困难"]
    drugs = ["阿莫西林", "布洛芬", "二甲双胍", "氨氯地平", "阿司匹林", "奥美拉唑", "呋塞米", "地高辛", "华法林",
             "胰岛素"]
    items = []
    for i in range(n):
        age, organ = rng.randint(18, 85), rng.choice(organs)
        symptoms = "、".join(rng.sample(findings, 3))
        stem = (f"患者，{rng.choice(['男', '女'])}，{age}岁。因{symptoms}{rng.randint(2, 30)}天入院，"
                f"查体提示{organ}区压痛，实验室检查示相关指标升高（第{i + 1}题）。最可能的治疗药物是")
        options = [f"{letter}. {drug}" for letter, drug in zip(LETTERS, rng.sample(drugs, 5), strict=False)]
        items.append({"question": stem, "options": options, "answer": rng.choice(LETTERS),
                      "other": {"source": "Med-Exam", "id": i + 1}})
    return items


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def prompt_for(item: dict) -> str:
    """The user message medgap sends for an item, so every harness sends the same bytes."""
    from medgap.solvers.prompts import render

    options = {entry[0]: entry[3:] for entry in item["options"]}
    return render("single", item["question"], options)


# server --------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def fake_server(delay: float = 0.0) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(SERVER), "--port", str(port), "--delay", str(delay)])
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("fake OpenAI server did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(10)


# (a) the bare loop ---------------------------------------------------------------------------------
def run_bare_loop(base_url: str, prompts: list[str], concurrency: int) -> Measured:
    """The loop inside this (already started) process: no interpreter start, no imports."""
    started, cpu = time.perf_counter(), time.process_time()
    answers = asyncio.run(post_all(f"{base_url}/chat/completions", prompts, concurrency))
    assert answers == len(prompts), answers
    return time.perf_counter() - started, time.process_time() - cpu


def time_bare_script(base_url: str, prompts: Path, concurrency: int, limit: int | None = None) -> Measured:
    """The same loop as a program of its own, timed like every harness: start, import, read, ask."""
    command = [sys.executable, str(BARE), f"{base_url}/chat/completions", str(prompts), str(concurrency)]
    return run_timed(command + ([str(limit)] if limit else []))


# (b) medgap ----------------------------------------------------------------------------------------
def medgap_command() -> list[str]:
    """The `medgap` script of the interpreter that runs the bare loop, as a venv user would call it.

    Preferred over PATH, where a version manager's shim (pyenv: ~0.05 s a call) may come first."""
    beside = Path(sys.executable).with_name("medgap")
    found = str(beside) if beside.is_file() else shutil.which("medgap")
    return [found] if found else [sys.executable, "-c", "import sys; from medgap.cli import main; sys.exit(main())"]


def child_cpu() -> float:
    """CPU seconds of this process's finished children (the fake server runs until the end)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_timed(command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Measured:
    started, cpu = time.perf_counter(), child_cpu()
    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": pythonpath, **(env or {})}
    done = subprocess.run(command, check=False, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])}… exited {done.returncode}:\n{done.stderr[-2000:]}")
    return elapsed, child_cpu() - cpu


def time_medgap(base_url: str, data: Path, workdir: Path, concurrency: int, limit: int | None = None) -> Measured:
    db = Path(tempfile.mkdtemp(dir=workdir)) / "medgap.db"  # fresh every time: a reused one would resume
    command = [*medgap_command(), "run", "--model", f"openai/{MODEL}", "--suite", str(data), "--db", str(db),
               "--max-concurrency", str(concurrency), "--base-url", base_url,
               "--run-id", f"bench-c{concurrency}"]
    if limit:
        command += ["--limit", str(limit)]
    elapsed = run_timed(command, env={"OPENAI_API_KEY": "bench"})
    check_medgap_rows(db, f"bench-c{concurrency}", limit)
    return elapsed


def check_medgap_rows(db: Path, run_id: str, limit: int | None) -> None:
    """The timing only counts if every item was really asked and stored without error."""
    from medgap.store import Store

    with Store(db) as store:
        rows = store.rows(run_id)
    expected = limit or len(rows)
    errors = [row.response.error for row in rows if row.errored]
    if errors or len(rows) != expected:
        raise RuntimeError(f"medgap stored {len(rows)} rows, {len(errors)} errors: {errors[:3]}")


# (c) other harnesses -------------------------------------------------------------------------------
def importable(python: str, module: str) -> bool:
    return subprocess.run([python, "-c", f"import {module}"], check=False, capture_output=True).returncode == 0


def time_lm_eval(python: str, base_url: str, items: list[dict], workdir: Path, concurrency: int,
                 limit: int | None = None) -> Measured:
    data = write_jsonl(workdir / "lm_eval_items.jsonl",
                       [{"prompt": prompt_for(item), "answer": item["answer"]} for item in items])
    tasks = workdir / "lm_eval_tasks"
    tasks.mkdir(exist_ok=True)
    (tasks / "medgap_bench.yaml").write_text(
        "task: medgap_bench\n"
        "dataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {data}\n"
        "test_split: test\n"
        "output_type: generate_until\n"
        'doc_to_text: "{{prompt}}"\n'
        'doc_to_target: "{{answer}}"\n'
        "generation_kwargs:\n  until: []\n  max_gen_toks: 512\n  do_sample: false\n  temperature: 0.0\n"
        "metric_list:\n  - metric: exact_match\n",
        encoding="utf-8",
    )
    model_args = (f"model={MODEL},base_url={base_url}/chat/completions,num_concurrent={concurrency},"
                  "max_retries=3,tokenized_requests=False,tokenizer_backend=None")
    command = [python, "-m", "lm_eval", "--model", "local-chat-completions", "--model_args", model_args,
               "--tasks", "medgap_bench", "--include_path", str(tasks), "--apply_chat_template",
               "--batch_size", "1", *(["--limit", str(limit)] if limit else [])]
    return run_timed(command, env={"OPENAI_API_KEY": "bench", "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"},
                     cwd=workdir)


def time_inspect(python: str, base_url: str, items: list[dict], workdir: Path, concurrency: int,
                 limit: int | None = None) -> Measured:
    data = write_jsonl(workdir / "inspect_items.jsonl",
                       [{"input": prompt_for(item), "target": item["answer"]} for item in items])
    task_file = workdir / "inspect_bench.py"
    task_file.write_text(
        "from inspect_ai import Task, task\n"
        "from inspect_ai.dataset import json_dataset\n"
        "from inspect_ai.scorer import match\n"
        "from inspect_ai.solver import generate\n\n"
        "@task\n"
        "def medgap_bench():\n"
        f"    return Task(dataset=json_dataset({str(data)!r}), solver=generate(), scorer=match())\n",
        encoding="utf-8",
    )
    command = [python, "-m", "inspect_ai", "eval", task_file.name, "--model", f"openai-api/bench/{MODEL}",
               "--max-connections", str(concurrency), "--max-tokens", "512", "--temperature", "0",
               "--display", "none", "--log-dir", str(workdir / f"inspect-logs-c{concurrency}"),
               *(["--limit", str(limit)] if limit else [])]
    return run_timed(command, env={"BENCH_BASE_URL": base_url, "BENCH_API_KEY": "bench"}, cwd=workdir)


EXTRAS: dict[str, tuple[str, Callable[..., Measured]]] = {
    "lm-evaluation-harness": ("lm_eval", time_lm_eval),
    "inspect_ai": ("inspect_ai", time_inspect),
}


# report --------------------------------------------------------------------------------------------
def served(base_url: str) -> int:
    """Completions the fake server has answered so far."""
    from urllib.request import urlopen

    with urlopen(base_url.removesuffix("/v1") + "/stats", timeout=5) as reply:
        return json.load(reply)["requests"]


@dataclass
class Plan:
    """One timing to take at a concurrency: `run()` asks `expected` completions of the server."""

    name: str
    expected: int
    run: Callable[[], Measured]
    missing: str | None = None  # why the harness is skipped


def measure_all(plans: list[Plan], concurrency: int, base_url: str, repeat: int) -> list[Timing]:
    """Each plan run `repeat` times, one run of every plan in turn (other load on the machine then
    falls on all of them alike); the median wall and CPU seconds of each, noted when the server did
    not get exactly the completions expected."""
    runs: list[list[Measured]] = [[] for _ in plans]
    wrong: list[list[int]] = [[] for _ in plans]
    for _ in range(repeat):
        for plan, measured, off in zip(plans, runs, wrong, strict=True):
            if plan.missing:
                continue
            before = served(base_url)
            measured.append(plan.run())
            sent = served(base_url) - before
            if sent != plan.expected:
                off.append(sent)
    timings = []
    for plan, measured, off in zip(plans, runs, wrong, strict=True):
        if plan.missing:
            timings.append(Timing(plan.name, concurrency, None, plan.missing))
            continue
        note = STARTUP_NOTE if plan.expected == 1 else ""
        if off:
            note = f"{note}; server got {off} requests, not {plan.expected}".lstrip("; ")
        timings.append(Timing(plan.name, concurrency, statistics.median(wall for wall, _ in measured), note,
                              statistics.median(cpu for _, cpu in measured)))
    return timings


def print_table(timings: list[Timing], items: int, repeat: int, delay: float) -> None:
    """Each harness's seconds as a ratio to the bare loop run as a program (`x program`: both sides
    start an interpreter and import) and to the bare loop inside this process (`x loop`)."""
    script = {t.concurrency: t.seconds for t in timings if t.harness == BARE_SCRIPT}
    loop = {t.concurrency: t.seconds for t in timings if t.harness == BARE_LOOP}
    best = f", medians of {repeat} runs" if repeat > 1 else ""
    server = f"a local server taking {delay:g} s per completion" if delay else "an instant local server"
    print(f"\n{items} requests to {server} (seconds{best}; ratios to the bare aiohttp loop at the same concurrency,"
          " run as a program of its own (x program) and inside this process (x loop))")
    print(f"{'harness':<28} {'conc.':>5} {'seconds':>8} {'cpu s':>6} {'req/s':>7} {'x program':>10} {'x loop':>8}"
          "  note")
    for t in timings:
        if t.seconds is None:
            print(f"{t.harness:<28} {t.concurrency:>5} {'–':>8} {'–':>6} {'–':>7} {'–':>10} {'–':>8}  {t.note}")
            continue
        startup = t.harness.strip().startswith("startup")
        ratios = ["–" if startup or not base.get(t.concurrency) else f"{t.seconds / base[t.concurrency]:.2f}x"
                  for base in (script, loop)]
        rate = "–" if startup else f"{items / t.seconds:.0f}"
        cpu = "–" if t.cpu is None else f"{t.cpu:.2f}"
        print(f"{t.harness:<28} {t.concurrency:>5} {t.seconds:>8.2f} {cpu:>6} {rate:>7} {ratios[0]:>10} {ratios[1]:>8}"
              f"  {t.note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000, help="number of items (default 2000)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32], help="concurrency levels (default 1 32)")
    parser.add_argument("--extras-python", default=sys.executable,
                        help="interpreter that has lm_eval / inspect_ai installed (default: this one)")
    parser.add_argument("--server-delay", type=float, default=0.0,
                        help="seconds the fake server takes per completion (default 0: instant)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="time each harness N times, in turns, and report the medians (default 1)")
    parser.add_argument("--only", choices=["medgap", "extras"], nargs="+", default=["medgap", "extras"],
                        help="harnesses to time besides the bare loop (default both)")
    args = parser.parse_args()

    # Byte-compile medgap as an installed package is: with PYTHONDONTWRITEBYTECODE set (as on some CI
    # machines) every `medgap run` would otherwise recompile its modules on start.
    compileall.compile_dir(REPO / "medgap", quiet=1)
    items = make_items(args.items)
    prompts = [prompt_for(item) for item in items]
    timings: list[Timing] = []
    with tempfile.TemporaryDirectory(prefix="medgap-bench-") as tmp, fake_server(args.server_delay) as base_url:
        workdir = Path(tmp)
        data = write_jsonl(workdir / "Med-Exam.jsonl", items)
        prompt_file = write_jsonl(workdir / "prompts.jsonl", [{"prompt": prompt} for prompt in prompts])
        harnesses: list[tuple[str, str | None, Callable[[int, int | None], Measured]]] = [
            (BARE_SCRIPT, None, lambda c, limit: time_bare_script(base_url, prompt_file, c, limit))]
        if "medgap" in args.only:
            harnesses.append(("medgap run", None, lambda c, limit: time_medgap(base_url, data, workdir, c, limit)))
        for name, (module, fn) in EXTRAS.items():
            if "extras" in args.only:
                missing = None if importable(args.extras_python, module) else (
                    f"skipped: `import {module}` fails in {args.extras_python}")
                harnesses.append((name, missing, lambda c, limit, fn=fn: fn(args.extras_python, base_url, items,
                                                                             workdir, c, limit)))
        for c in args.concurrency:
            run_bare_loop(base_url, prompts[:50], c)  # warm the server and the loop
            plans = [Plan(BARE_LOOP, len(prompts), lambda c=c: run_bare_loop(base_url, prompts, c))]
            for name, missing, run in harnesses:
                plans.append(Plan(name, len(items), lambda run=run, c=c: run(c, None), missing))
                if not missing:
                    plans.append(Plan("  startup (--limit 1)", 1, lambda run=run, c=c: run(c, 1)))
            timings += measure_all(plans, c, base_url, args.repeat)
    print_table(timings, args.items, args.repeat, args.server_delay)


if __name__ == "__main__":
    main()
