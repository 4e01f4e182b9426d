"""How fast `medgap run --model local/default` is next to a bare llama_cpp.Llama loop on the same prompts.

For each (choice mode, permutation count) this runs `medgap run` in a child process, then asks the
exact messages medgap stored, in the same order, through a bare loop in this process:

- logprobs: reset the context, evaluate chat prompt + "答案：", read the next-token logits, take the
  likeliest option letter (no prefix reuse: the plain way to score letters with llama.cpp);
- generate: `Llama.create_chat_completion(messages, max_tokens=...)` (llama-cpp-python's own
  prefix reuse applies; medgap adds stopping once "答案：X" is written).

Both timings include loading the model. Prints items/s, the ratio medgap / bare, how often the two
picked the same letter, the CPU, and the peak RSS of the medgap child. On a shared machine, wall
time swings with the other load: `--repeat N` alternates the two N times and keeps each one's best,
and the CPU-seconds per item are printed as well (llama.cpp threads spin while waiting for each other,
so with every core busy elsewhere CPU time inflates too).

    python bench/local_speed.py                        # demo-robustness suite, 1 and 5 permutations
    python bench/local_speed.py --limit 2 --modes logprobs --permutations 5

Two more questions, each answered against a baseline measured in the same run:

    python bench/local_speed.py --extra-bufts --limit 2     # cost of the CPU extra buffer types being off
    python bench/local_speed.py --concurrent --limit 2      # two runs at once vs one alone

`--extra-bufts` loads the model twice in one child process, with llama.cpp's CPU extra buffer types
off (what medgap loads) and on (llama.cpp's default: AMX, repacked weights), scores each of medgap's
stored prompts with both, alternating which goes first (so other jobs' load falls on both alike), and
prints the time ratio, and the peak RSS of each kind of load in a child of its own.
`--concurrent` times `medgap run` alone and two `medgap run`s started together, and the same for the
bare loop as a plain llama-cpp-python program runs it (every core, OpenMP's default spinning waits);
the ratio two-at-once / alone is 2.0 when two runs share the cores without losing throughput.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medgap.models import local
from medgap.models.local import ANSWER_PREFIX, LocalSettings, available_cores, letter_logprobs, load_llama
from medgap.models.weights import default_model_path
from medgap.records import Row
from medgap.scoring.choice_answer import extract_choice
from medgap.store import Store


@dataclass
class Timing:
    items: int
    seconds: float
    cpu_seconds: float
    letters: list[str | None]

    @property
    def rate(self) -> float:
        return self.items / self.seconds

    @property
    def cpu_per_item(self) -> float:
        return self.cpu_seconds / self.items


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def best(timings: list[Timing]) -> Timing:
    return min(timings, key=lambda timing: timing.seconds)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def medgap_command() -> list[str]:
    script = shutil.which("medgap")
    return [script] if script else [sys.executable, "-c", "from medgap.cli import main; main()"]


def medgap_run_command(suite: str, limit: int | None, permutations: int, mode: str, max_tokens: int, db: Path,
                       run_id: str) -> list[str]:
    command = [*medgap_command(), "run", "--model", "local/default", "--suite", suite, "--db", str(db),
               "--run-id", run_id, "--permutations", str(permutations), "--choice-mode", mode,
               "--max-tokens", str(max_tokens), "--quiet"]
    return command + (["--limit-per-task", str(limit)] if limit else [])


def stored_rows(db: Path, run_id: str) -> list[Row]:
    with Store(db) as store:
        rows = store.rows(run_id)
    errors = [row.response.error for row in rows if row.response.error]
    if errors:
        raise SystemExit(f"medgap run had {len(errors)} failed rows, e.g. {errors[0]}")
    return rows


def run_medgap(suite: str, limit: int | None, permutations: int, mode: str, max_tokens: int, db: Path,
               run_id: str) -> tuple[Timing, list[Row]]:
    started, cpu_started = time.perf_counter(), children_cpu()
    subprocess.run(medgap_run_command(suite, limit, permutations, mode, max_tokens, db, run_id), check=True)
    seconds, cpu_seconds = time.perf_counter() - started, children_cpu() - cpu_started
    rows = stored_rows(db, run_id)
    return Timing(len(rows), seconds, cpu_seconds, [row.score.extracted for row in rows]), rows


def load_bare(threads: int, loader: str = "plain"):
    """`plain`: llama_cpp.Llama as any program loads it (llama.cpp's and libgomp's defaults);
    `off`/`on`: as medgap loads it, with the CPU extra buffer types off (medgap's choice) or on."""
    if loader == "plain":
        from llama_cpp import Llama

        return Llama(model_path=str(default_model_path()), n_ctx=4096, n_threads=threads, n_threads_batch=threads,
                     seed=0, verbose=False)
    local.EXTRA_BUFFER_TYPES = loader == "on"
    return load_llama(default_model_path(), LocalSettings(n_ctx=4096, n_threads=threads, seed=0))


def single_tokens(llm, letter: str) -> list[int]:
    spellings = [llm.tokenize(text.encode(), add_bos=False) for text in (letter, f" {letter}")]
    return [ids[0] for ids in spellings if len(ids) == 1]


def score_letters_bare(llm, row: Row) -> str | None:
    """Chat prompt + "答案：" evaluated from an empty cache; the likeliest option letter."""
    import llama_cpp
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    eos, bos = (llm.detokenize([token], special=True).decode() for token in (llm.token_eos(), llm.token_bos()))
    formatter = Jinja2ChatFormatter(llm.metadata["tokenizer.chat_template"], eos_token=eos, bos_token=bos)
    prompt = formatter(messages=[m.model_dump() for m in row.attempt.messages]).prompt + ANSWER_PREFIX
    tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
    llm.reset()
    llm.eval(tokens)
    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))
    scored = letter_logprobs(logits, {letter: single_tokens(llm, letter) for letter in row.attempt.options})
    return max(scored, key=scored.__getitem__) if row.kind == "single" else None


def run_bare(rows: list[Row], mode: str, max_tokens: int, threads: int, loader: str = "plain") -> Timing:
    started, cpu_started = time.perf_counter(), time.process_time()
    llm = load_bare(threads, loader)
    if mode == "logprobs":
        letters = [score_letters_bare(llm, row) for row in rows]
    else:
        letters = []
        for row in rows:
            messages = [m.model_dump() for m in row.attempt.messages]
            out = llm.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=0.0)
            text = out["choices"][0]["message"]["content"] or ""
            letters.append(extract_choice(text, row.attempt.options, multi=row.kind == "multi"))
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    llm.close()
    return Timing(len(rows), seconds, cpu_seconds, letters)


def agreement(medgap: Timing, bare: Timing) -> str:
    pairs = [(a, b) for a, b in zip(medgap.letters, bare.letters, strict=True) if b is not None]
    if not pairs:
        return "–"
    return f"{sum(a == b for a, b in pairs) / len(pairs):.0%} of {len(pairs)}"


def bare_child(db: Path, run_id: str, threads: int, loader: str) -> subprocess.Popen:
    """The bare logprobs loop over a stored run's prompts, in a process of its own (JSON on stdout)."""
    command = [sys.executable, __file__, "--bare-child", str(db), run_id, str(threads), loader]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def bare_child_main(db: str, run_id: str, threads: str, loader: str) -> None:
    timing = run_bare(stored_rows(Path(db), run_id), "logprobs", 1, int(threads), loader)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"items": timing.items, "seconds": timing.seconds, "cpu_seconds": timing.cpu_seconds,
                      "letters": timing.letters, "peak_mb": peak_mb}))


def child_timing(child: subprocess.Popen) -> tuple[Timing, float]:
    out, _ = child.communicate()
    if child.returncode:
        raise SystemExit(f"bare child failed with status {child.returncode}")
    result = json.loads(out.strip().splitlines()[-1])
    if not result["items"]:
        raise SystemExit("bare child found no stored prompts")
    return Timing(result["items"], result["seconds"], result["cpu_seconds"], result["letters"]), result["peak_mb"]


def interleaved_child_main(db: str, run_id: str, threads: str, repeat: str) -> None:
    """Both loads in one process, every prompt scored by one then the other (order alternating), so
    that load from other jobs falls on both alike."""
    rows = stored_rows(Path(db), run_id)
    models, seconds, letters = {}, {"off": 0.0, "on": 0.0}, {"off": [], "on": []}
    for loader in ("off", "on"):
        started = time.perf_counter()
        models[loader] = load_bare(int(threads), loader)
        seconds[loader] += time.perf_counter() - started
    for attempt in range(int(repeat)):
        for i, row in enumerate(rows):
            for loader in (("off", "on") if (i + attempt) % 2 == 0 else ("on", "off")):
                started = time.perf_counter()
                letter = score_letters_bare(models[loader], row)
                seconds[loader] += time.perf_counter() - started
                if attempt == 0:
                    letters[loader].append(letter)
    print(json.dumps({"seconds": seconds, "letters": letters}))


def load_child_main(threads: str, loader: str) -> None:
    """Peak RSS of a load and one forward pass."""
    llm = load_bare(int(threads), loader)
    llm.eval(llm.tokenize("你好".encode(), add_bos=False))
    print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def child_json(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare_extra_bufts(args: argparse.Namespace, folder: Path, threads: int) -> None:
    """Bare logprobs loop with the CPU extra buffer types off (medgap) and on (llama.cpp's default)."""
    db = folder / "bench.db"
    subprocess.run(medgap_run_command(args.suite, args.limit, 1, "logprobs", 1, db, "prompts"), check=True)
    timed = child_json("--interleaved-child", str(db), "prompts", str(threads), str(args.repeat))
    seconds, letters = timed["seconds"], timed["letters"]
    peak = {loader: child_json("--load-child", str(threads), loader)["peak_mb"] for loader in ("off", "on")}
    same = sum(a == b for a, b in zip(letters["off"], letters["on"], strict=True) if b is not None)
    print(f"{len(letters['off'])} prompts x {args.repeat}, interleaved, load included: extra buffer types off "
          f"(medgap) {seconds['off']:.1f} s, on (llama.cpp's default) {seconds['on']:.1f} s; ratio off/on "
          f"{seconds['off'] / seconds['on']:.2f}x the time")
    print(f"peak RSS of a load: off {peak['off']:.0f} MB, on {peak['on']:.0f} MB ({peak['off'] / peak['on']:.2f}x); "
          f"same answer {same} of {sum(b is not None for b in letters['on'])}")


def compare_concurrent(args: argparse.Namespace, folder: Path, threads: int) -> None:
    """One run alone vs two started together: medgap, and a plain bare-loop program as the baseline."""
    def medgap_pair(count: int, tag: str) -> float:
        started = time.perf_counter()
        children = [subprocess.Popen(medgap_run_command(args.suite, args.limit, args.permutations[0], "logprobs", 1,
                                                        folder / f"{tag}-{i}.db", "run")) for i in range(count)]
        if any(child.wait() for child in children):
            raise SystemExit("a medgap run failed")
        return time.perf_counter() - started

    def bare_pair(count: int) -> float:
        started = time.perf_counter()
        for child in [bare_child(folder / "medgap-1-0-0.db", "run", threads, "plain") for _ in range(count)]:
            child_timing(child)
        return time.perf_counter() - started

    best_of = {name: [] for name in ("medgap 1", "medgap 2", "bare 1", "bare 2")}
    for attempt in range(args.repeat):
        best_of["medgap 1"].append(medgap_pair(1, f"medgap-1-{attempt}"))
        best_of["medgap 2"].append(medgap_pair(2, f"medgap-2-{attempt}"))
        best_of["bare 1"].append(bare_pair(1))
        best_of["bare 2"].append(bare_pair(2))
    seconds = {name: min(values) for name, values in best_of.items()}
    for who, label in (("medgap", "medgap run (shared cores, passive waits)"),
                       ("bare", f"plain llama-cpp-python loop ({threads} threads each, libgomp's spinning waits)")):
        alone, two = seconds[f"{who} 1"], seconds[f"{who} 2"]
        print(f"{label}: alone {alone:.1f} s, two at once {two:.1f} s, ratio {two / alone:.2f} (2.00 = no loss)")


def main() -> None:
    children = {"--bare-child": bare_child_main, "--interleaved-child": interleaved_child_main,
                "--load-child": load_child_main}
    if sys.argv[1:2] and sys.argv[1] in children:
        return children[sys.argv[1]](*sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="demo-robustness", help="suite to take the choice items from")
    parser.add_argument("--limit-per-task", dest="limit", type=int, default=None, help="at most N items per task")
    parser.add_argument("--permutations", type=int, nargs="+", default=[1, 5], help="option orders per item")
    parser.add_argument("--modes", nargs="+", default=["logprobs", "generate"], choices=["logprobs", "generate"])
    parser.add_argument("--max-tokens", type=int, default=64, help="generation cap for the generate mode")
    parser.add_argument("--repeat", type=int, default=1, help="alternate medgap and bare N times, keep each best")
    parser.add_argument("--extra-bufts", action="store_true", help="time the CPU extra buffer types off vs on")
    parser.add_argument("--concurrent", action="store_true", help="time two runs at once vs one alone")
    args = parser.parse_args()

    threads = available_cores()
    print(f"CPU: {cpu_name()}; {threads} cores available, {os.cpu_count()} in the machine; "
          f"python {platform.python_version()}")
    default_model_path()  # assemble before timing anything
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as folder:
        if args.extra_bufts or args.concurrent:
            (compare_extra_bufts if args.extra_bufts else compare_concurrent)(args, Path(folder), threads)
            print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
            return
        print(f"{'mode':<9} {'k':>2} {'items':>5} {'medgap s':>9} {'bare s':>7} {'medgap/s':>9} {'bare/s':>7} "
              f"{'ratio':>6} {'cpu-s/item m|b':>15}  same answer")
        for mode in args.modes:
            for k in args.permutations:
                medgap_runs, bare_runs = [], []
                for attempt in range(args.repeat):
                    medgap, rows = run_medgap(args.suite, args.limit, k, mode, args.max_tokens,
                                              Path(folder) / "bench.db", f"bench-{mode}-k{k}-{attempt}")
                    medgap_runs.append(medgap)
                    bare_runs.append(run_bare(rows, mode, args.max_tokens, threads))
                medgap, bare = best(medgap_runs), best(bare_runs)
                print(f"{mode:<9} {k:>2} {medgap.items:>5} {medgap.seconds:>9.1f} {bare.seconds:>7.1f} "
                      f"{medgap.rate:>9.2f} {bare.rate:>7.2f} {medgap.rate / bare.rate:>6.2f} "
                      f"{medgap.cpu_per_item:>7.2f}|{bare.cpu_per_item:<7.2f}  {agreement(medgap, bare)}", flush=True)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS of a medgap run: {peak_mb:.0f} MB; load average after: "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
