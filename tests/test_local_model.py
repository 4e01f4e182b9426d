"""The in-process llama.cpp backend: prompt building, letter log-probabilities, prefix reuse and
early stopping against a fake `Llama`; one integration test with the real embedded model."""

from __future__ import annotations

import asyncio
import importlib.util
import math
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from medgap.models import get_model, local_probe
from medgap.models.base import GenerateConfig, ModelRequest
from medgap.models.local import ANSWER_PREFIX, MULTI_ANSWER_TOKENS, LocalModel, LocalSettings, letter_logprobs
from medgap.models.local_runtime import CoreShare
from medgap.records import Gold, Message, Sample, Source
from medgap.solvers import prompts
from medgap.solvers.permutations import attempts_for
from tests.helpers import choice_sample

VOCAB = 2000
SPACED_LETTER = 1000  # the fake tokenizer's id for " X" is 1000 + ord("X")


class FakeLlama:
    """The surface of medgap's Llama subclass, with a character-level tokenizer."""

    def __init__(self, n_ctx: int = 4096, logits=None, completions=(), can_trim: bool = True,
                 n_batch: int = 512) -> None:
        self.input_ids = np.zeros(n_ctx, dtype=np.intc)
        # where each cached token was computed: (first, last) position of its llama.cpp batch, the
        # thing its numbers depend on besides the tokens themselves
        self.batch_of: list[tuple[int, int]] = [(0, 0)] * n_ctx
        self.n_batch = n_batch
        self.chat_template = None
        self.n_tokens = 0
        self.evaluated: list[list[int]] = []  # each eval() call's tokens
        self.resets = 0
        self.completion_calls: list[dict] = []
        self.logits = logits if logits is not None else np.zeros(VOCAB)
        self.completions = list(completions)
        self.can_trim = can_trim
        self.closed = False
        self.busy = False
        self.threads: list[int] = []  # set_threads() calls

    def chat_prompt(self, messages: list[dict[str, str]]) -> str:
        body = "".join(f"<|{m['role']}|>{m['content']}<|end|>" for m in messages)
        return f"<|system|>S<|end|>{body}<|assistant|>"

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        assert add_bos is False
        return [SPACED_LETTER + ord(piece[1]) if len(piece) == 2 else ord(piece)
                for piece in re.findall(r" [A-Z]|.", text.decode("utf-8"), flags=re.DOTALL)]

    def detokenize(self, tokens, special: bool = False) -> bytes:
        return "".join(f" {chr(t - SPACED_LETTER)}" if SPACED_LETTER <= t < VOCAB else chr(t) for t in tokens).encode()

    def reset(self) -> None:
        self.resets += 1
        self.n_tokens = 0

    def eval(self, tokens) -> None:
        assert not self.busy, "eval re-entered from two threads"
        self.busy = True
        time.sleep(0.001)
        tokens = list(tokens)
        assert self.n_tokens + len(tokens) <= len(self.input_ids)
        for start in range(0, len(tokens), self.n_batch):  # as Llama.eval: batches from the first new token
            batch = tokens[start : start + self.n_batch]
            first = self.n_tokens
            self.input_ids[first : first + len(batch)] = batch
            self.batch_of[first : first + len(batch)] = [(first, first + len(batch) - 1)] * len(batch)
            self.n_tokens += len(batch)
        self.evaluated.append(tokens)
        self.busy = False

    def next_token_logits(self) -> np.ndarray:
        return np.array(self.logits, dtype=np.float32)

    def can_trim_cache(self) -> bool:
        return self.can_trim

    def set_threads(self, threads: int) -> None:
        self.threads.append(threads)

    def cache_state(self) -> list[tuple[int, tuple[int, int]]]:
        """Each cached token with the batch it was computed in: equal states give equal logits."""
        return [(int(self.input_ids[i]), self.batch_of[i]) for i in range(self.n_tokens)]

    def create_completion(self, prompt, max_tokens, temperature, stop=None, seed=None, stopping_criteria=None,
                          top_p=0.95, repeat_penalty=1.0):
        # medgap evaluates the prompt itself first: llama.cpp then samples from the cached prompt as is
        assert list(self.input_ids[: self.n_tokens]) == list(prompt)
        self.completion_calls.append({"prompt": list(prompt), "max_tokens": max_tokens, "temperature": temperature,
                                      "stop": stop, "seed": seed, "stopping_criteria": stopping_criteria,
                                      "top_p": top_p, "repeat_penalty": repeat_penalty,
                                      "cache_state": self.cache_state()})
        script = self.tokenize(self.completions.pop(0).encode(), add_bos=False)
        generated: list[int] = []
        for token in script[:max_tokens]:
            if stopping_criteria and stopping_criteria(np.array(list(prompt) + generated), None):
                break
            generated.append(token)
        return {"choices": [{"text": self.detokenize(generated).decode()}],
                "usage": {"prompt_tokens": len(prompt), "completion_tokens": len(generated)}}

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def gguf(tmp_path) -> Path:
    path = tmp_path / "tiny.gguf"
    path.write_bytes(b"GGUF" + bytes(60))
    return path


def make_model(gguf: Path, fake: FakeLlama, **options) -> LocalModel:
    # cores counted among this test's processes only, not the machine's other medgap runs
    return LocalModel(str(gguf), llama_factory=lambda path, settings: fake, cores=CoreShare(gguf.parent / "busy", 4),
                      **options)


def request_for(sample: Sample, permutation: int = 0, k: int = 1, **config) -> ModelRequest:
    attempt = attempts_for(sample, k, seed=0)[permutation]
    text = prompts.render(sample.kind, sample.question, attempt.options, sample.context)
    return ModelRequest(messages=[Message(role="user", content=text)], config=GenerateConfig(**config),
                        attempt=attempt, sample=sample)


def open_sample() -> Sample:
    return Sample(id="o1", source=Source(dataset="fixture"), task="qa", dimension="language_generation",
                  kind="open", question="高血压患者的饮食建议？", gold=Gold(text="低盐"))


def logits_with(**letter_logits: float) -> np.ndarray:
    logits = np.full(VOCAB, -5.0)
    for key, value in letter_logits.items():
        letter = key.removeprefix("space_")
        logits[(SPACED_LETTER if key.startswith("space_") else 0) + ord(letter)] = value
    return logits


def ask(model: LocalModel, request: ModelRequest):
    return asyncio.run(model.generate(request))


def test_letter_logprobs_are_a_log_softmax_over_the_vocabulary_with_spellings_merged():
    logits = np.array([2.0, 1.0, 0.5, -1.0])
    result = letter_logprobs(logits, {"A": [0], "B": [1, 2]})
    norm = math.log(sum(math.exp(x) for x in logits))
    assert result["A"] == pytest.approx(2.0 - norm)
    assert result["B"] == pytest.approx(math.log(math.exp(1.0) + math.exp(0.5)) - norm)


def test_logprob_mode_scores_every_option_letter_after_the_answer_prefix(gguf):
    fake = FakeLlama(logits=logits_with(A=1.0, B=0.5, C=3.0, D=0.0))
    model = make_model(gguf, fake)
    request = request_for(choice_sample("q1", "C"), choice_mode="logprobs")
    response = ask(model, request)
    assert response.text == f"{ANSWER_PREFIX}C"
    assert set(response.logprobs) == {"A", "B", "C", "D"}
    assert max(response.logprobs, key=response.logprobs.get) == "C"
    assert all(value < 0 for value in response.logprobs.values())
    sent = fake.detokenize(fake.evaluated[0]).decode()
    assert sent == fake.chat_prompt([{"role": "user", "content": request.messages[0].content}]) + ANSWER_PREFIX
    assert response.prompt_tokens == len(fake.evaluated[0]) and response.completion_tokens == 1
    assert fake.completion_calls == []  # one forward pass, no decoding


def test_a_letter_written_with_a_leading_space_counts_for_that_letter(gguf):
    fake = FakeLlama(logits=logits_with(A=1.0, B=0.8, space_B=0.8))
    response = ask(make_model(gguf, fake), request_for(choice_sample("q1"), choice_mode="logprobs"))
    assert response.text == f"{ANSWER_PREFIX}B"
    assert response.logprobs["B"] > response.logprobs["A"]


def test_option_orders_of_one_item_reuse_whole_batches_of_the_cached_prefix(gguf):
    fake = FakeLlama(logits=logits_with(A=1.0), n_batch=16)
    model = make_model(gguf, fake, n_batch="16")
    sample = choice_sample("q1", n_options=4)
    first = request_for(sample, 0, k=2, choice_mode="logprobs")
    second = request_for(sample, 1, k=2, choice_mode="logprobs")
    ask(model, first)
    first_tokens = fake.evaluated[-1]
    ask(model, second)
    second_tokens = model.prompt_tokens(fake, second.messages, ANSWER_PREFIX)
    shared = next(i for i, (a, b) in enumerate(zip(first_tokens, second_tokens, strict=False)) if a != b)
    assert shared > len(prompts.templates()["single"]) // 2  # instruction and question are shared
    reused = shared // 16 * 16  # whole batches only
    assert reused > 0 and fake.evaluated[-1] == second_tokens[reused:]
    assert list(fake.input_ids[: fake.n_tokens]) == second_tokens
    assert fake.resets == 1  # only the very first request started from an empty cache


def fresh_state(gguf, request: ModelRequest, n_batch: int = 16):
    """The cache a request leaves in a model that has answered nothing before."""
    fake = FakeLlama(logits=logits_with(A=1.0), n_batch=n_batch, completions=["答案：A"] * 2)
    ask(make_model(gguf, fake, n_batch=str(n_batch)), request)
    return fake


@pytest.mark.parametrize("mode", ["logprobs", "generate"])
def test_a_request_sees_the_same_cache_whatever_was_asked_before(gguf, mode):
    """Same request, same numbers: after two different predecessors (and in a fresh process, as
    after a resume) every cached token was computed in the same llama.cpp batch."""
    item = request_for(choice_sample("q9", n_options=4), choice_mode=mode)
    predecessors = [request_for(choice_sample("q1", n_options=4), 1, k=2, choice_mode=mode),
                    request_for(open_sample(), max_tokens=8)]
    expected = fresh_state(gguf, item)
    states = []
    for predecessor in predecessors:
        fake = FakeLlama(logits=logits_with(A=1.0), n_batch=16, completions=["答案：B", "答案：A"])
        model = make_model(gguf, fake, n_batch="16")
        ask(model, predecessor)
        ask(model, item)
        states.append(fake.completion_calls[-1]["cache_state"] if mode == "generate" else fake.cache_state())
    want = expected.completion_calls[-1]["cache_state"] if mode == "generate" else expected.cache_state()
    assert states == [want, want]


def test_the_same_prompt_again_re_evaluates_its_last_batch_as_a_fresh_cache_would(gguf):
    fake = FakeLlama(logits=logits_with(A=1.0), n_batch=16)
    model = make_model(gguf, fake, n_batch="16")
    request = request_for(choice_sample("q1"), choice_mode="logprobs")
    ask(model, request)
    first = fake.cache_state()
    ask(model, request)
    assert len(fake.evaluated[-1]) == len(fake.evaluated[0]) - (len(fake.evaluated[0]) - 1) // 16 * 16
    assert fake.cache_state() == first


def test_a_model_that_cannot_trim_its_cache_starts_over(gguf):
    fake = FakeLlama(logits=logits_with(A=1.0), can_trim=False, n_batch=16)
    model = make_model(gguf, fake, n_batch="16")
    sample = choice_sample("q1")
    ask(model, request_for(sample, 0, k=2, choice_mode="logprobs"))
    ask(model, request_for(sample, 1, k=2, choice_mode="logprobs"))
    assert fake.resets == 2 and len(fake.evaluated[-1]) == fake.n_tokens


def test_multi_answer_items_decode_a_short_answer_from_the_cached_prompt(gguf):
    fake = FakeLlama(logits=logits_with(A=2.0), completions=["AC"])
    model = make_model(gguf, fake)
    response = ask(model, request_for(choice_sample("m1", "AC"), choice_mode="logprobs"))
    assert response.text == f"{ANSWER_PREFIX}AC"
    call = fake.completion_calls[0]
    assert call["prompt"] == fake.evaluated[0] and call["max_tokens"] == MULTI_ANSWER_TOKENS
    assert call["temperature"] == 0.0
    assert set(response.logprobs) == {"A", "B", "C", "D"}


def test_open_items_are_generated_even_in_logprob_mode(gguf):
    fake = FakeLlama(completions=["建议低盐饮食，规律监测血压。"])
    response = ask(make_model(gguf, fake), request_for(open_sample(), choice_mode="logprobs", max_tokens=300,
                                                       temperature=0.7, seed=5))
    assert response.text == "建议低盐饮食，规律监测血压。" and response.logprobs is None
    call = fake.completion_calls[0]
    assert (call["max_tokens"], call["temperature"], call["seed"]) == (300, 0.7, 5)
    assert (call["top_p"], call["repeat_penalty"]) == (1.0, 1.0)  # sent explicitly, not llama.cpp's defaults
    assert call["stopping_criteria"] is None
    assert fake.detokenize(call["prompt"]).decode().endswith("<|assistant|>")


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("答案：B。因为题干提示了典型表现，所以选择B项，其余选项均不符合。", "答案：B。"),
        ("答案：A、C。解释：两者都对。", "答案：A、C。"),
        ("首先分析各选项……答案是D\n以上。", "首先分析各选项……答案是D\n以"),
        ("我无法确定。", "我无法确定。"),
    ],
)
def test_generated_choice_answers_stop_once_the_answer_is_written(gguf, written, kept):
    fake = FakeLlama(completions=[written])
    response = ask(make_model(gguf, fake), request_for(choice_sample("q1", "AC"), choice_mode="generate"))
    assert response.text == kept
    assert response.completion_tokens == len(kept)
    assert response.logprobs is None


def test_generation_never_asks_for_more_tokens_than_the_context_has_left(gguf):
    fake = FakeLlama(n_ctx=300, completions=["好"])
    model = make_model(gguf, fake, n_ctx=300)
    ask(model, request_for(open_sample(), max_tokens=512))
    call = fake.completion_calls[0]
    assert call["max_tokens"] == 300 - len(call["prompt"])


def test_a_prompt_longer_than_the_context_is_a_clear_error(gguf):
    fake = FakeLlama(n_ctx=40)
    model = make_model(gguf, fake, n_ctx="40")
    with pytest.raises(ValueError, match=r"the prompt is \d+ tokens but the context holds 40; .*n_ctx=80"):
        ask(model, request_for(choice_sample("q1"), choice_mode="logprobs"))


def test_the_model_loads_once_on_first_request_and_closes(gguf):
    loads = []
    fake = FakeLlama(logits=logits_with(A=1.0))

    def factory(path, settings):
        loads.append((path, settings))
        return fake

    model = LocalModel(str(gguf), llama_factory=factory, cores=CoreShare(gguf.parent / "busy", 4), n_threads="3",
                       n_ctx="2048")
    assert loads == []
    ask(model, request_for(choice_sample("q1"), choice_mode="logprobs"))
    ask(model, request_for(choice_sample("q2"), choice_mode="logprobs"))
    assert loads == [(gguf, LocalSettings(n_ctx=2048, n_threads=3))]
    asyncio.run(model.aclose())
    assert fake.closed


def test_concurrent_requests_run_one_at_a_time_on_one_thread(gguf):
    fake = FakeLlama(logits=logits_with(B=1.0))
    model = make_model(gguf, fake)
    threads = set()
    answer = model.answer

    def recording_answer(request):
        threads.add(threading.get_ident())
        return answer(request)

    model.answer = recording_answer

    async def many():
        requests = [request_for(choice_sample(f"q{i}"), choice_mode="logprobs") for i in range(12)]
        return await asyncio.gather(*(model.generate(r) for r in requests))

    responses = asyncio.run(many())  # FakeLlama.eval asserts it is never re-entered
    assert [r.text for r in responses] == [f"{ANSWER_PREFIX}B"] * 12
    assert len(threads) == 1 and threading.get_ident() not in threads
    assert LocalModel.default_concurrency == 1


def test_describe_records_file_hash_settings_and_versions(gguf):
    import hashlib

    model = make_model(gguf, FakeLlama(), n_ctx="1024", n_threads="2", timeout=120.0)
    described = model.describe()
    assert described["path"] == str(gguf)
    assert described["sha256"] == hashlib.sha256(gguf.read_bytes()).hexdigest()
    assert (described["n_ctx"], described["n_threads"]) == (1024, 2)
    assert described["default_choice_mode"] == "logprobs" and "llama_cpp" in described


def test_settings_are_parsed_from_strings_and_bad_ones_are_named():
    assert LocalSettings.from_options({"n_ctx": "8192", "seed": "0", "timeout": 30.0, "max_concurrency": 2}) == \
        LocalSettings(n_ctx=8192, seed=0)
    with pytest.raises(ValueError, match="unknown option.*ctx_size.*known: n_batch, n_ctx, n_threads, seed"):
        LocalSettings.from_options({"ctx_size": "1"})
    with pytest.raises(ValueError, match="n_threads='many' must be an integer"):
        LocalSettings.from_options({"n_threads": "many"})
    with pytest.raises(ValueError, match="n_ctx='0' is out of range"):
        LocalSettings.from_options({"n_ctx": "0"})
    with pytest.raises(ValueError, match="--base-url is for openai/ models"):
        LocalSettings.from_options({"base_url": "http://x"})
    with pytest.raises(ValueError, match="--max-rps is for openai/ models"):
        LocalSettings.from_options({"max_rps": 2.0})


def test_model_files_are_checked_before_anything_loads(tmp_path):
    with pytest.raises(ValueError, match="local model file .*missing.gguf not found"):
        LocalModel(str(tmp_path / "missing.gguf"), llama_factory=lambda p, s: None)
    text = tmp_path / "notes.gguf"
    text.write_text("not a model")
    with pytest.raises(ValueError, match="is not a GGUF file"):
        LocalModel(str(text), llama_factory=lambda p, s: None)


def test_a_missing_llama_cpp_tells_the_user_what_to_install(gguf, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "llama_cpp" else real_find_spec(name, *a))
    with pytest.raises(ImportError, match=r"pip install 'medgap\[local\]'"):
        get_model(f"local/{gguf}")


def test_registry_builds_a_local_model_from_a_path_with_options(gguf, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: object() if name == "llama_cpp" else real_find_spec(name, *a))
    monkeypatch.setattr(local_probe, "check_loads", lambda path, settings: None)  # the file is no real model
    model = get_model(f"local/{gguf}?n_ctx=1024", timeout=120.0)
    assert isinstance(model, LocalModel) and model.path == gguf and model.settings.n_ctx == 1024


# --- the real embedded model --------------------------------------------------------------------


def real_model_missing() -> str | None:
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (pip install 'medgap[local]')"
    from medgap.models import weights

    try:
        weights.part_paths(weights.DEFAULT_WEIGHTS)
    except weights.WeightsError as exc:
        return str(exc)
    return None


EASY_ITEMS = [
    ("人体最大的器官是", {"A": "心脏", "B": "皮肤", "C": "肝脏", "D": "肺"}, "B"),
    ("分泌胰岛素的器官是", {"A": "胰腺", "B": "胃", "C": "脾", "D": "肾"}, "A"),
    ("正常成年人的心脏有几个腔", {"A": "两个", "B": "三个", "C": "四个", "D": "五个"}, "C"),
]


@pytest.mark.slow
@pytest.mark.skipif(real_model_missing() is not None, reason=f"real model unavailable: {real_model_missing()}")
def test_the_embedded_model_answers_in_both_modes():
    model = get_model("local/default", timeout=120.0)
    samples = [Sample(id=f"easy{i}", source=Source(dataset="fixture"), task="easy", dimension="knowledge_qa",
                      kind="single", question=q, options=o, gold=Gold(letters=[g]))
               for i, (q, o, g) in enumerate(EASY_ITEMS)]

    async def run_all():
        results = {}
        for mode in ("logprobs", "generate"):
            results[mode] = [await model.generate(request_for(s, choice_mode=mode, max_tokens=64)) for s in samples]
        prompt = model.loaded().chat_prompt([{"role": "user", "content": "你好"}])
        await model.aclose()
        return results, prompt

    results, prompt = asyncio.run(run_all())
    assert prompt.startswith("<|im_start|>system") and prompt.endswith("<|im_start|>assistant\n")
    for sample, response in zip(samples, results["logprobs"], strict=True):
        assert set(response.logprobs) == set(sample.options)
        assert all(-30 < value < 0 for value in response.logprobs.values())
        best = max(response.logprobs, key=response.logprobs.get)
        assert response.text == f"{ANSWER_PREFIX}{best}"
    correct = sum(r.text.endswith(s.gold.letters[0]) for s, r in zip(samples, results["logprobs"], strict=True))
    assert correct >= 2, [r.text for r in results["logprobs"]]
    for response in results["generate"]:
        assert response.error is None and re.search(r"[A-D]", response.text), response.text
        assert response.completion_tokens <= 64
