"""A one-time check, in a child process, that llama.cpp loads a model and runs a forward pass here.

llama.cpp is native code: a build made for another CPU, or a CPU kernel that misbehaves on this one
(Intel AMX in natively built wheels), kills the whole process with SIGSEGV or SIGILL, leaving a
bare "Segmentation fault" and nothing else. So before a local model is used, a child process loads
it and evaluates a prompt, reporting each step as it starts; if the child dies, the run stops with
the step that died and how to get a portable build. A passing check is remembered in the medgap
cache folder per llama.cpp build, CPU, model file and load settings, so it runs once.

    python -m medgap.models.local_probe MODEL.gguf '{"n_ctx": 4096, ...}'   # the child, by hand
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import signal
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from medgap.models import weights
from medgap.models.local_runtime import cpu_description, llama_cpp_version

if TYPE_CHECKING:
    from medgap.models.local import LocalSettings

STEP_MARK = "medgap-probe-step: "
DONE = "done"
PROBE_MESSAGE = "你好"  # with the chat template, a prompt of a few dozen tokens


class LocalModelCrash(ValueError):
    """The local model crashed (or failed) in the one-time check; the message says where and what to do."""


def portable_build_command() -> str:
    version = llama_cpp_version() or "<version>"
    return f'CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install --no-cache-dir --force-reinstall llama-cpp-python=={version}'


def llama_cpp_build() -> list[tuple[str, int, int]]:
    """The installed llama.cpp libraries (name, size, mtime): a rebuild changes them."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return []
    libraries = []
    for folder in spec.submodule_search_locations:
        for path in sorted(Path(folder).glob("lib/*")):
            if path.is_file() and not path.is_symlink():
                stat = path.stat()
                libraries.append((path.name, stat.st_size, stat.st_mtime_ns))
    return libraries


def probe_key(path: Path, settings: LocalSettings) -> str:
    stat = path.stat()
    facts = {
        "llama_cpp": llama_cpp_version(),
        "build": llama_cpp_build(),
        "cpu": cpu_description(),
        "model": [str(path.resolve()), stat.st_size, stat.st_mtime_ns],
        "settings": asdict(settings),
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


# The child imports this same medgap: its folder goes first on sys.path unless it is there already
# (a site-packages folder is, and must not move ahead of the standard library).
CHILD = ("import sys; root = sys.argv.pop(1); root in sys.path or sys.path.insert(0, root); "
         "from medgap.models.local_probe import main; main(sys.argv[1:])")


def probe_command(path: Path, settings: LocalSettings) -> list[str]:
    package_root = str(Path(__file__).resolve().parents[2])
    return [sys.executable, "-c", CHILD, package_root, str(path), json.dumps(asdict(settings))]


def check_loads(path: Path, settings: LocalSettings, folder: Path | None = None) -> None:
    """Raise LocalModelCrash unless a child process can load `path` and run a forward pass."""
    marker = (folder or weights.cache_dir() / "probes") / f"{probe_key(path, settings)[:32]}.ok"
    if marker.exists():
        return
    child = subprocess.run(probe_command(path, settings), capture_output=True, text=True, check=False)
    steps = [line[len(STEP_MARK):].strip() for line in child.stdout.splitlines() if line.startswith(STEP_MARK)]
    step = steps[-1] if steps else "starting Python"
    if child.returncode == 0 and step == DONE:
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(f"{cpu_description()[:200]}\n", encoding="utf-8")
        except OSError:
            pass  # an unwritable cache folder: check again next time
        return
    raise LocalModelCrash(failure_message(path, step, child.returncode, child.stderr))


def failure_message(path: Path, step: str, returncode: int, stderr: str) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return (
            f"the local model {path.name} crashed its process ({name}) during {step}, in a one-time check before "
            f"the run; nothing was run or stored. The installed llama-cpp-python {llama_cpp_version() or ''} was "
            f"likely compiled for another CPU or with CPU kernels that fail on this one ({cpu_description()[:60]}…). "
            f"Install a portable build, then run again: {portable_build_command()}"
        )
    last = [line for line in stderr.strip().splitlines() if line.strip()][-1:] or [f"exit status {returncode}"]
    return f"the local model {path.name} failed during {step}: {last[0]}"


def step(name: str) -> None:
    print(f"{STEP_MARK}{name}", flush=True)


def main(argv: list[str]) -> None:
    """The child: load the model exactly as a run does and evaluate a short chat prompt."""
    from medgap.models.local import LocalSettings, _llama_class, load_llama

    path, settings = Path(argv[0]), LocalSettings(**json.loads(argv[1]))
    step("importing llama_cpp")
    _llama_class()
    step("model load")
    llm = load_llama(path, settings)
    step("first forward pass")
    tokens = llm.tokenize(llm.chat_prompt([{"role": "user", "content": PROBE_MESSAGE}]).encode(), add_bos=False,
                          special=True)
    llm.eval(tokens)  # a batch, as prompts are evaluated
    llm.eval(tokens[-1:])  # one token, as answers are decoded
    llm.close()
    step(DONE)


if __name__ == "__main__":
    main(sys.argv[1:])
