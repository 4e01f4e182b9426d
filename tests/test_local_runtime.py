"""How the local backend runs llama.cpp: no CPU extra buffer types, threads shared between runs
computing at once, and a crash of the native code reported with the step that died."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medgap.cli import load_commands
from medgap.models import local_probe
from medgap.models.local import LocalModel, LocalSettings, load_llama
from medgap.models.local_runtime import CoreShare, configure_openmp, physical_cores
from medgap.store import Store
from tests.helpers import choice_sample
from tests.test_local_model import FakeLlama, logits_with, request_for

needs_llama_cpp = pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                                     reason="llama-cpp-python is not installed (pip install 'medgap[local]')")


@pytest.fixture
def gguf(tmp_path) -> Path:
    path = tmp_path / "tiny.gguf"
    path.write_bytes(b"GGUF" + bytes(60))
    return path


# --- CPU extra buffer types --------------------------------------------------------------------------


@needs_llama_cpp
def test_the_model_is_loaded_with_the_cpu_extra_buffer_types_off(gguf, monkeypatch):
    """The AMX kernels (and weight repacking) of llama.cpp's CPU backend live in its "extra buffer
    types"; a natively built llama-cpp-python crashes in the AMX one on Intel Xeons. Whatever the
    build, the parameters medgap hands to llama.cpp's loader must turn them off."""
    import llama_cpp.llama_cpp as native

    passed = []

    def load_from_file(path, params):
        passed.append((path, params.use_extra_bufts, params.n_gpu_layers))
        # returns None, llama.cpp's "could not load": Llama raises before anything else runs

    monkeypatch.setattr(native, "llama_model_load_from_file", load_from_file)
    with pytest.raises(ValueError, match="Failed to load model"):
        load_llama(gguf, LocalSettings(n_ctx=256, n_threads=1))
    assert passed == [(str(gguf).encode(), False, 0)]
    assert native.llama_model_default_params().use_extra_bufts  # llama.cpp's own default is on


# --- threads -------------------------------------------------------------------------------------


def test_runs_computing_at_once_share_the_cores(tmp_path):
    first, second, third = (CoreShare(tmp_path / "busy", cores=8) for _ in range(3))
    with first.share(most=8) as alone:
        assert alone == 8  # nobody else is computing
        with second.share(most=8) as two:
            assert two == 4
            with third.share(most=8) as three:
                assert three == 2
    with second.share(most=8) as again:
        assert again == 8  # the others have finished their requests
    with first.share(most=3) as capped, second.share(most=8) as other:
        assert (capped, other) == (3, 4)  # n_threads caps a process's share


def test_a_killed_run_does_not_keep_its_cores(tmp_path):
    """The kernel drops a process's lock when it ends, however it ends."""
    holder = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from medgap.models.local_runtime import CoreShare
        with CoreShare(Path({str(tmp_path / "busy")!r}), cores=2).share(most=2):
            print("holding", flush=True)
            time.sleep(60)
    """)
    repo = str(Path(__file__).resolve().parents[1])
    child = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": repo})
    try:
        assert child.stdout.readline().strip() == "holding"
        with CoreShare(tmp_path / "busy", cores=2).share(most=2) as threads:
            assert threads == 1
    finally:
        child.kill()
        child.wait()
    with CoreShare(tmp_path / "busy", cores=2).share(most=2) as threads:
        assert threads == 2


def test_a_request_runs_on_its_share_of_the_cores(gguf, tmp_path):
    fake = FakeLlama(logits=logits_with(A=1.0))
    model = LocalModel(str(gguf), llama_factory=lambda path, settings: fake, cores=CoreShare(tmp_path / "busy", 4),
                       n_threads="4")
    asyncio.run(model.generate(request_for(choice_sample("q1"), choice_mode="logprobs")))
    assert fake.threads == []  # alone: the threads it was loaded with
    with CoreShare(tmp_path / "busy", 4).share(most=4):  # another run computing meanwhile
        asyncio.run(model.generate(request_for(choice_sample("q2"), choice_mode="logprobs")))
    asyncio.run(model.generate(request_for(choice_sample("q3"), choice_mode="logprobs")))
    assert fake.threads == [2, 4]


def test_hyper_threads_of_one_core_count_once(tmp_path):
    for cpu, (package, core) in enumerate([(0, 0), (0, 0), (0, 1), (0, 1), (1, 0)]):
        topology = tmp_path / f"cpu{cpu}" / "topology"
        topology.mkdir(parents=True)
        (topology / "physical_package_id").write_text(f"{package}\n")
        (topology / "core_id").write_text(f"{core}\n")
    assert physical_cores([0, 1, 2, 3, 4], sys_cpu=tmp_path) == 3
    assert physical_cores([0, 1], sys_cpu=tmp_path) == 1
    assert physical_cores([7, 8], sys_cpu=tmp_path) == 2  # no topology: each CPU is a core


def test_waiting_threads_sleep_unless_the_user_chose_otherwise(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    configure_openmp()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    configure_openmp()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


# --- a crashing model -------------------------------------------------------------------------------


def fake_child(monkeypatch, script: str) -> list[int]:
    """Make the check run `script` as its child; returns a list that counts the runs."""
    runs = []

    def command(path, settings):
        runs.append(1)
        return [sys.executable, "-c", textwrap.dedent(script)]

    monkeypatch.setattr(local_probe, "probe_command", command)
    return runs


CRASH_IN_FORWARD_PASS = """
    import os, signal
    for step in ("importing llama_cpp", "model load", "first forward pass"):
        print("medgap-probe-step:", step, flush=True)
    os.kill(os.getpid(), signal.SIGSEGV)
"""


def test_a_crash_names_the_step_that_died_and_the_portable_build(gguf, tmp_path, monkeypatch):
    fake_child(monkeypatch, CRASH_IN_FORWARD_PASS)
    with pytest.raises(local_probe.LocalModelCrash) as crash:
        local_probe.check_loads(gguf, LocalSettings(), folder=tmp_path / "probes")
    message = str(crash.value)
    assert "crashed its process (SIGSEGV) during first forward pass" in message
    assert 'CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install --no-cache-dir --force-reinstall llama-cpp-python==' in message
    assert not (tmp_path / "probes").exists()  # a crash is never remembered as a pass


def test_a_passing_check_runs_once_per_build_cpu_and_model(gguf, tmp_path, monkeypatch):
    runs = fake_child(monkeypatch, 'print("medgap-probe-step: done")')
    local_probe.check_loads(gguf, LocalSettings(), folder=tmp_path / "probes")
    local_probe.check_loads(gguf, LocalSettings(), folder=tmp_path / "probes")
    assert len(runs) == 1
    monkeypatch.setattr(local_probe, "cpu_description", lambda: "another CPU | avx512f amx_tile")
    fake_child(monkeypatch, CRASH_IN_FORWARD_PASS)
    with pytest.raises(local_probe.LocalModelCrash, match="during first forward pass"):
        local_probe.check_loads(gguf, LocalSettings(), folder=tmp_path / "probes")  # a new CPU is checked again


def test_an_error_that_is_no_crash_is_reported_with_its_last_line(gguf, tmp_path, monkeypatch):
    fake_child(monkeypatch, """
        import sys
        print("medgap-probe-step: model load", flush=True)
        raise SystemExit("ValueError: Failed to load model from file")
    """)
    with pytest.raises(local_probe.LocalModelCrash, match="failed during model load: ValueError: Failed to load"):
        local_probe.check_loads(gguf, LocalSettings(), folder=tmp_path / "probes")


@needs_llama_cpp
def test_the_real_check_loads_the_file_in_a_child(gguf, tmp_path):
    """The child process itself, on a file llama.cpp refuses: it gets as far as loading."""
    with pytest.raises(local_probe.LocalModelCrash, match=r"tiny\.gguf failed during model load"):
        local_probe.check_loads(gguf, LocalSettings(n_ctx=256, n_threads=1), folder=tmp_path / "probes")


@needs_llama_cpp
def test_medgap_run_stops_before_the_run_with_the_crash_report(gguf, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDGAP_CACHE_DIR", str(tmp_path / "cache"))
    fake_child(monkeypatch, CRASH_IN_FORWARD_PASS)
    db = tmp_path / "runs.db"
    result = CliRunner().invoke(load_commands("run"), ["run", "--model", f"local/{gguf}", "--db", str(db),
                                                       "--suite", "demo", "--limit", "1"])
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "crashed its process (SIGSEGV) during first forward pass" in output
    assert "-DGGML_NATIVE=OFF" in output
    with Store(db) as store:
        assert store.runs() == []  # no empty run left behind
