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
    python bench/local_speed.py --limit-per-task 2 --modes logprobs --permutations 5
"""

from __future__ import annotations

import argparse
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

from medgap.models.local import ANSWER_PREFIX, available_cores, letter_logprobs
from medgap.models.weights import default_model_path
from medgap.records import Row
from medgap.scoring.extract import extract_choice
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


def run_medgap(suite: str, limit: int | None, permutations: int, mode: str, max_tokens: int, db: Path,
               run_id: str) -> tuple[Timing, list[Row]]:
    command = [*medgap_command(), "run", "--model", "local/default", "--suite", suite, "--db", str(db),
               "--run-id", run_id, "--permutations", str(permutations), "--choice-mode", mode,
               "--max-tokens", str(max_tokens), "--quiet"]
    if limit:
        command += ["--limit-per-task", str(limit)]
    started, cpu_started = time.perf_counter(), children_cpu()
    subprocess.run(command, check=True)
    seconds, cpu_seconds = time.perf_counter() - started, children_cpu() - cpu_started
    with Store(db) as store:
        rows = store.rows(run_id)
    errors = [row.response.error for row in rows if row.response.error]
    if errors:
        raise SystemExit(f"medgap run had {len(errors)} failed rows, e.g. {errors[0]}")
    return Timing(len(rows), seconds, cpu_seconds, [row.score.extracted for row in rows]), rows


def load_bare(threads: int):
    from llama_cpp import Llama

    return Llama(model_path=str(default_model_path()), n_ctx=4096, n_threads=threads, n_threads_batch=threads,
                 seed=0, verbose=False)


def single_tokens(llm, letter: str) -> list[int]:
    spellings = [llm.tokenize(text.encode(), add_bos=False) for text in (letter, f" {letter}")]
    return [ids[0] for ids in spellings if len(ids) == 1]


def run_bare(rows: list[Row], mode: str, max_tokens: int, threads: int) -> Timing:
    import llama_cpp
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    started, cpu_started = time.perf_counter(), time.process_time()
    llm = load_bare(threads)
    letters = []
    if mode == "logprobs":
        eos, bos = (llm.detokenize([token], special=True).decode() for token in (llm.token_eos(), llm.token_bos()))
        formatter = Jinja2ChatFormatter(llm.metadata["tokenizer.chat_template"], eos_token=eos, bos_token=bos)
        for row in rows:
            messages = [m.model_dump() for m in row.attempt.messages]
            prompt = formatter(messages=messages).prompt + ANSWER_PREFIX
            tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
            llm.reset()
            llm.eval(tokens)
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))
            ids = {letter: single_tokens(llm, letter) for letter in row.attempt.options}
            scored = letter_logprobs(logits, ids)
            letters.append(max(scored, key=scored.__getitem__) if row.kind == "single" else None)
    else:
        for row in rows:
            messages = [m.model_dump() for m in row.attempt.messages]
            out = llm.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=0.0)
            text = out["choices"][0]["message"]["content"] or ""
            letters.append(extract_choice(text, row.attempt.options, multi=row.kind == "multi"))
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    llm.close()
    return Timing(len(rows), seconds, cpu_seconds, letters)


def agreement(medgap: Timing, bare: Timing) -> str:
    pairs = [(a, b) for a, b in zip(medgap.letters, bare.letters) if b is not None]
    if not pairs:
        return "–"
    return f"{sum(a == b for a, b in pairs) / len(pairs):.0%} of {len(pairs)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="demo-robustness", help="suite to take the choice items from")
    parser.add_argument("--limit-per-task", dest="limit", type=int, default=None, help="at most N items per task")
    parser.add_argument("--permutations", type=int, nargs="+", default=[1, 5], help="option orders per item")
    parser.add_argument("--modes", nargs="+", default=["logprobs", "generate"], choices=["logprobs", "generate"])
    parser.add_argument("--max-tokens", type=int, default=64, help="generation cap for the generate mode")
    parser.add_argument("--repeat", type=int, default=1, help="alternate medgap and bare N times, keep each best")
    args = parser.parse_args()

    threads = available_cores()
    print(f"CPU: {cpu_name()}; {threads} cores available, {os.cpu_count()} in the machine; python {platform.python_version()}")
    default_model_path()  # assemble before timing anything
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'mode':<9} {'k':>2} {'items':>5} {'medgap s':>9} {'bare s':>7} {'medgap/s':>9} {'bare/s':>7} "
          f"{'ratio':>6} {'cpu-s/item m|b':>15}  same answer")
    with tempfile.TemporaryDirectory() as folder:
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
