"""How fast `medgap run --model local/default` is next to a bare llama_cpp.Llama loop on the same prompts.

For each (choice mode, permutation count) this runs `medgap run` in a child process, then asks the
exact messages medgap stored, in the same order, through a bare loop in this process:

- logprobs: reset the context, evaluate chat prompt + "答案：", read the next-token logits, take the
  likeliest option letter (no prefix reuse: the plain way to score letters with llama.cpp);
- generate: `Llama.create_chat_completion(messages, max_tokens=...)` (llama-cpp-python's own
  prefix reuse applies; medgap adds stopping once "答案：X" is written).

Both timings include loading the model. Prints items/s, the ratio medgap / bare, how often the two
picked the same letter, the CPU, and the peak RSS of the medgap child.

    python bench/local_speed.py                        # demo-robustness suite, 1 and 5 permutations
    python bench/local_speed.py --limit 2 --modes logprobs --permutations 5
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
    letters: list[str | None]

    @property
    def rate(self) -> float:
        return self.items / self.seconds


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


def run_medgap(suite: str, limit: int | None, permutations: int, mode: str, max_tokens: int, db: Path) -> tuple[Timing, list[Row]]:
    run_id = f"bench-{mode}-k{permutations}"
    command = [*medgap_command(), "run", "--model", "local/default", "--suite", suite, "--db", str(db),
               "--run-id", run_id, "--permutations", str(permutations), "--choice-mode", mode,
               "--max-tokens", str(max_tokens), "--quiet"]
    if limit:
        command += ["--limit", str(limit)]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - started
    with Store(db) as store:
        rows = store.rows(run_id)
    errors = [row.response.error for row in rows if row.response.error]
    if errors:
        raise SystemExit(f"medgap run had {len(errors)} failed rows, e.g. {errors[0]}")
    return Timing(len(rows), seconds, [row.score.extracted for row in rows]), rows


def load_bare(threads: int):
    from llama_cpp import Llama

    return Llama(model_path=str(default_model_path()), n_ctx=4096, n_threads=threads, n_threads_batch=threads,
                 seed=0, verbose=False)


def run_bare(rows: list[Row], mode: str, max_tokens: int, threads: int) -> Timing:
    import llama_cpp
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    started = time.perf_counter()
    llm = load_bare(threads)
    letters = []
    if mode == "logprobs":
        special = lambda token: llm.detokenize([token], special=True).decode()  # noqa: E731
        formatter = Jinja2ChatFormatter(llm.metadata["tokenizer.chat_template"], eos_token=special(llm.token_eos()),
                                        bos_token=special(llm.token_bos()))
        for row in rows:
            messages = [m.model_dump() for m in row.attempt.messages]
            prompt = formatter(messages=messages).prompt + ANSWER_PREFIX
            tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
            llm.reset()
            llm.eval(tokens)
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))
            ids = {letter: [llm.tokenize(letter.encode(), add_bos=False)[0]] for letter in row.attempt.options}
            scored = letter_logprobs(logits, ids)
            letters.append(max(scored, key=scored.__getitem__) if row.kind == "single" else None)
    else:
        for row in rows:
            messages = [m.model_dump() for m in row.attempt.messages]
            out = llm.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=0.0)
            text = out["choices"][0]["message"]["content"] or ""
            letters.append(extract_choice(text, row.attempt.options, multi=row.kind == "multi"))
    seconds = time.perf_counter() - started
    llm.close()
    return Timing(len(rows), seconds, letters)


def agreement(medgap: Timing, bare: Timing) -> str:
    pairs = [(a, b) for a, b in zip(medgap.letters, bare.letters) if b is not None]
    if not pairs:
        return "–"
    return f"{sum(a == b for a, b in pairs) / len(pairs):.0%} of {len(pairs)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="demo-robustness", help="suite to take the choice items from")
    parser.add_argument("--limit", type=int, default=None, help="at most N items per task")
    parser.add_argument("--permutations", type=int, nargs="+", default=[1, 5], help="option orders per item")
    parser.add_argument("--modes", nargs="+", default=["logprobs", "generate"], choices=["logprobs", "generate"])
    parser.add_argument("--max-tokens", type=int, default=64, help="generation cap for the generate mode")
    args = parser.parse_args()

    threads = available_cores()
    print(f"CPU: {cpu_name()}; {threads} cores available, {os.cpu_count()} in the machine; python {platform.python_version()}")
    default_model_path()  # assemble before timing anything
    print(f"{'mode':<9} {'k':>2} {'items':>5} {'medgap s':>9} {'bare s':>8} {'medgap/s':>9} {'bare/s':>7} {'ratio':>6}  same answer")
    with tempfile.TemporaryDirectory() as folder:
        for mode in args.modes:
            for k in args.permutations:
                medgap, rows = run_medgap(args.suite, args.limit, k, mode, args.max_tokens, Path(folder) / "bench.db")
                bare = run_bare(rows, mode, args.max_tokens, threads)
                print(f"{mode:<9} {k:>2} {medgap.items:>5} {medgap.seconds:>9.1f} {bare.seconds:>8.1f} "
                      f"{medgap.rate:>9.2f} {bare.rate:>7.2f} {medgap.rate / bare.rate:>6.2f}  {agreement(medgap, bare)}",
                      flush=True)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS of a medgap run: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
