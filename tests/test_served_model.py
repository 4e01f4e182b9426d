"""The embedded model in-process and behind llama-cpp-python's own OpenAI-compatible server: the
same answers, read the same way (issue 19). Slow: loads the real model twice."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator

import pytest

from medgap.models import get_model
from medgap.models.base import ANSWER_PREFIX
from medgap.models.local_runtime import physical_cores
from medgap.records import Gold, Sample, Source
from tests.test_local_model import EASY_ITEMS, open_sample, real_model_missing, request_for


def server_missing() -> str | None:
    missing = real_model_missing()
    if missing:
        return missing
    for module in ("llama_cpp.server", "sse_starlette", "starlette_context"):
        try:
            if importlib.util.find_spec(module) is None:
                return f"{module} is not installed (pip install 'llama-cpp-python[server]')"
        except ModuleNotFoundError:
            return f"{module} is not installed (pip install 'llama-cpp-python[server]')"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The in-process backend loads models with llama.cpp's CPU extra buffer types off (their repacked-weight
# kernels compute the same logits with other rounding: letter log-probs differ by up to ~0.07 nats), so the
# server must load the same way to compute the same arithmetic. Its CLI has no such option.
SERVER_WITHOUT_EXTRA_BUFFER_TYPES = """
import runpy, sys
import llama_cpp

class Llama(llama_cpp.Llama):
    @property
    def model_params(self):
        return self._params

    @model_params.setter
    def model_params(self, params):
        params.use_extra_bufts = False
        self._params = params

llama_cpp.Llama = Llama
sys.argv[0] = "llama_cpp.server"
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


@contextlib.contextmanager
def llama_cpp_server(model_path: str) -> Iterator[str]:
    """llama-cpp-python's server on the GGUF, with the settings the in-process backend uses."""
    port = free_port()
    command = [sys.executable, "-c", SERVER_WITHOUT_EXTRA_BUFFER_TYPES, "--model", model_path, "--host", "127.0.0.1",
               "--port", str(port), "--n_ctx", "4096", "--n_threads", str(physical_cores()),
               "--n_threads_batch", str(physical_cores()), "--logits_all", "true"]
    # a file, not a pipe: the server's llama.cpp log would fill a pipe and block it
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_serving(f"http://127.0.0.1:{port}/v1", process, log)
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_until_serving(base_url: str, process: subprocess.Popen, log) -> None:
    deadline = time.monotonic() + 300
    while True:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"the server exited: {log.read().decode(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=5) as reply:
                json.loads(reply.read())
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start within 300 s") from None
            time.sleep(1)


@pytest.mark.slow
@pytest.mark.skipif(server_missing() is not None, reason=f"cannot serve the real model: {server_missing()}")
def test_the_embedded_model_gives_the_same_answers_in_process_and_served():
    local = get_model("local/default", timeout=300.0)
    path = str(local.path)
    samples = [Sample(id=f"easy{i}", source=Source(dataset="fixture"), task="easy", dimension="knowledge_qa",
                      kind="single", question=q, options=o, gold=Gold(letters=[g]))
               for i, (q, o, g) in enumerate(EASY_ITEMS)]
    requests = {mode: [request_for(s, choice_mode=mode, max_tokens=48) for s in samples]
                for mode in ("logprobs", "generate")}
    requests["open"] = [request_for(open_sample(), max_tokens=48)]

    async def answers(model):
        try:
            return {mode: [await model.generate(r) for r in batch] for mode, batch in requests.items()}
        finally:
            await model.aclose()

    in_process = asyncio.run(answers(local))
    with llama_cpp_server(path) as base_url:
        served_model = get_model(f"openai/qwen?template={path}", base_url=base_url, timeout=300.0)
        served = asyncio.run(answers(served_model))
        first_letter = asyncio.run(answers(get_model("openai/qwen?logprobs=first_letter", base_url=base_url,
                                                     timeout=300.0)))["logprobs"]
    assert served_model.logprob_route() == "completions"
    assert served_model.server_info()["kind"] == "llama-cpp-python"
    for mine, theirs in zip(in_process["logprobs"], served["logprobs"], strict=True):
        assert theirs.error is None and theirs.text == mine.text and mine.text.startswith(ANSWER_PREFIX)
        for letter, value in theirs.logprobs.items():  # the server lists its top 20: all four letters here
            assert abs(value - mine.logprobs[letter]) < 0.02, (letter, value, mine.logprobs)  # 0.003 measured
    # generated text: the same with the same settings (llama-cpp-python's server would add its 1.1 repeat penalty)
    assert [r.text for r in served["generate"]] == [r.text for r in in_process["generate"]]
    assert served["open"][0].text == in_process["open"][0].text and served["open"][0].text
    for response in first_letter:  # the letter's distribution is found in the generated answer
        assert response.error is None and response.logprobs and set(response.logprobs) <= set("ABCD")


@pytest.mark.slow
@pytest.mark.skipif(real_model_missing() is not None, reason=f"real model unavailable: {real_model_missing()}")
def test_the_embedded_model_answers_one_request_the_same_after_different_predecessors():
    """Greedy text and letter log-probabilities of one request, asked first, after another choice
    item, and after an open item: identical, bit for bit."""
    item = Sample(id="x", source=Source(dataset="fixture"), task="easy", dimension="knowledge_qa", kind="single",
                  question=EASY_ITEMS[0][0], options=EASY_ITEMS[0][1], gold=Gold(letters=["B"]))
    other = Sample(id="y", source=Source(dataset="fixture"), task="easy", dimension="knowledge_qa", kind="single",
                   question=f"{EASY_ITEMS[0][0]}？（单选）", options=EASY_ITEMS[0][1], gold=Gold(letters=["B"]))
    predecessors = [[], [request_for(other, choice_mode="generate", max_tokens=40)],
                    [request_for(open_sample(), max_tokens=40)]]

    async def after(before):
        model = get_model("local/default", timeout=300.0)
        try:
            for request in before:
                await model.generate(request)
            return [await model.generate(request_for(item, choice_mode=mode, max_tokens=60))
                    for mode in ("generate", "logprobs")]
        finally:
            await model.aclose()

    results = [asyncio.run(after(before)) for before in predecessors]
    texts = {r[0].text for r in results}
    logprobs = {json.dumps(r[1].logprobs, sort_keys=True) for r in results}
    assert len(texts) == 1 and len(logprobs) == 1, (texts, logprobs)
