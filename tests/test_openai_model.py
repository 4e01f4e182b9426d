"""The openai/ backend against a real local HTTP server (tests/servers.py)."""

from __future__ import annotations

import asyncio
import json
import math
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from helpers import write_gguf
from servers import ChatServer, Failure, serve

from medgap.models import get_model
from medgap.models.base import GenerateConfig, ModelRequest
from medgap.models.openai import OpenAIModel, retry_after_seconds
from medgap.records import Attempt, Message, Response, Sample, Source

KEY_ENV = "MEDGAP_TEST_OPENAI_KEY"
SECRET = "sk-test-0123456789abcdef"


def make_request(question: str = "高血压的首选降压药是？", options: dict[str, str] | None = None,
                 kind: str | None = None, **config) -> ModelRequest:
    options = {"A": "利尿剂", "B": "β受体阻滞剂", "C": "ACEI", "D": "钙通道阻滞剂"} if options is None else options
    sample = Sample(id="q1", source=Source(dataset="test"), task="exam", dimension="knowledge_qa",
                    kind=kind or ("single" if options else "open"), question=question, options=options)
    attempt = Attempt(sample_id="q1", options=options, order=list(options))
    return ModelRequest(messages=[Message(role="user", content=question)], attempt=attempt, sample=sample,
                        config=GenerateConfig(**config))


def ask(model: OpenAIModel, *requests: ModelRequest) -> list[Response]:
    async def go() -> list[Response]:
        try:
            return await asyncio.gather(*(model.generate(request) for request in requests))
        finally:
            await model.aclose()

    return asyncio.run(go())


def timed(model: OpenAIModel, request: ModelRequest) -> tuple[Response, float]:
    started = time.perf_counter()
    (response,) = ask(model, request)
    return response, time.perf_counter() - started


@pytest.fixture(autouse=True)
def no_ambient_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv(KEY_ENV, raising=False)


def test_answer_usage_and_request_body():
    server = ChatServer(reply="答案：C", usage={"prompt_tokens": 42, "completion_tokens": 5})
    with serve(server) as base_url:
        model = OpenAIModel("qwen-test", base_url=base_url)
        (response,) = ask(model, make_request(temperature=0.3, max_tokens=64, seed=7))
    assert response.error is None
    assert response.text == "答案：C"
    assert (response.prompt_tokens, response.completion_tokens) == (42, 5)
    assert response.latency_s > 0
    body = server.bodies[0]
    assert body["model"] == "qwen-test"
    assert body["messages"] == [{"role": "user", "content": "高血压的首选降压药是？"}]
    assert (body["temperature"], body["max_tokens"], body["seed"]) == (0.3, 64, 7)
    assert "logprobs" not in body
    assert server.authorizations == [None]  # no key in the environment: no Authorization header


def test_retries_429_with_retry_after_then_500_then_ok():
    failures = [Failure(429, retry_after="1"), Failure(429, retry_after="1"), Failure(500)]
    server = ChatServer(failures=failures)
    with serve(server) as base_url:
        model = OpenAIModel("m", base_url=base_url, backoff_base=0.05)
        response, elapsed = timed(model, make_request())
    assert response.error is None and response.text == "答案：A"
    assert server.requests == 4
    gaps = [later - earlier for earlier, later in zip(server.arrival_times, server.arrival_times[1:], strict=False)]
    assert gaps[0] >= 0.95 and gaps[1] >= 0.95, gaps  # Retry-After: 1 was waited out, twice
    assert gaps[2] < 0.5, gaps  # the 500 had no Retry-After: short exponential backoff
    assert elapsed < 5


def test_retry_after_as_http_date_and_garbage():
    soon = datetime.now(UTC) + timedelta(seconds=30)
    assert 28 <= retry_after_seconds(format_datetime(soon, usegmt=True)) <= 30
    past = datetime.now(UTC) - timedelta(seconds=30)
    assert retry_after_seconds(format_datetime(past, usegmt=True)) == 0
    assert retry_after_seconds("2.5") == 2.5
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_retry_after_is_capped():
    server = ChatServer(failures=[Failure(429, retry_after="3600")])
    with serve(server) as base_url:
        model = OpenAIModel("m", base_url=base_url, backoff_max=0.2)
        response, elapsed = timed(model, make_request())
    assert response.error is None and server.requests == 2
    assert elapsed < 2


def test_client_error_fails_fast_without_retry():
    server = ChatServer(failures=[Failure(400, message="bad request: unknown field")])
    with serve(server) as base_url:
        model = OpenAIModel("m", base_url=base_url, backoff_base=1.0)
        response, elapsed = timed(model, make_request())
    assert server.requests == 1
    assert response.error is not None and "HTTP 400" in response.error and "unknown field" in response.error
    assert elapsed < 0.5


def test_timeout_is_retried():
    server = ChatServer(failures=[Failure(status=None, hang_s=1.5)])
    with serve(server) as base_url:
        model = OpenAIModel("m", base_url=base_url, timeout=0.3, backoff_base=0.05)
        response, elapsed = timed(model, make_request())
    assert response.error is None and response.text == "答案：A"
    assert server.requests == 2
    assert elapsed < 1.4  # did not wait for the hung request


def test_error_after_max_retries_is_a_response_not_an_exception():
    server = ChatServer(failures=[Failure(503)] * 10)
    with serve(server) as base_url:
        model = OpenAIModel("m", base_url=base_url, max_retries=2, backoff_base=0.01)
        response, _ = timed(model, make_request())
    assert server.requests == 3
    assert response.text == ""
    assert response.error is not None and "HTTP 503" in response.error and "3 attempts" in response.error


def test_connection_refused_is_retried_then_reported():
    with serve(ChatServer()) as base_url:
        pass  # the port is free again once the server has stopped
    model = OpenAIModel("m", base_url=base_url, max_retries=1, backoff_base=0.01)
    response, _ = timed(model, make_request())
    assert response.error is not None and "Connect" in response.error and "2 attempts" in response.error


def test_api_key_sent_as_bearer_but_never_recorded(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    server = ChatServer(failures=[Failure(401, message=f"Incorrect API key provided: {SECRET}")])
    with serve(server) as base_url:
        model = OpenAIModel("m", base_url=base_url, api_key_env=KEY_ENV)
        (failed,) = ask(model, make_request())
        (answered,) = ask(model, make_request())
    assert server.authorizations == [f"Bearer {SECRET}"] * 2
    assert answered.error is None
    assert failed.error is not None and "HTTP 401" in failed.error
    assert SECRET not in failed.error and "[redacted]" in failed.error
    assert SECRET not in json.dumps(model.describe()) and SECRET not in json.dumps(model.options)
    assert model.describe()["api_key_env"] == KEY_ENV


def test_key_as_an_option_is_refused():
    with pytest.raises(ValueError, match="environment"):
        OpenAIModel("m", api_key=SECRET)


def test_default_key_variable_and_base_url_from_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server = ChatServer()
    with serve(server) as base_url:
        monkeypatch.setenv("OPENAI_BASE_URL", base_url)
        model = get_model("openai/qwen?max_retries=0")
        (response,) = ask(model, make_request())
    assert isinstance(model, OpenAIModel) and model.max_retries == 0
    assert response.error is None and server.authorizations == [f"Bearer {SECRET}"]


LETTERS_AT_THE_ANSWER = [("B", -0.3), (" A", -1.9), ("A", -2.5), ("Ｃ", -3.0), ("答案", -4.0), ("a", -5.0), ("E", -6.0)]


def test_first_letter_route_reads_the_distribution_where_the_answer_letter_is_written():
    # The reply starts "答案：": its first token's alternatives hold the letters only as noise
    # (the old bug); the answer's distribution is at the first option letter written.
    written = [("答案", [("答案", -0.13), ("A", -3.0), ("C", -3.5)]), ("：", [("：", -0.01)]),
               ("B", LETTERS_AT_THE_ANSWER), ("。", [("。", -0.2)])]
    server = ChatServer(written=written)
    with serve(server) as base_url:
        model = OpenAIModel("m", base_url=base_url)
        (response,) = ask(model, make_request(choice_mode="logprobs", max_tokens=64))
    body = server.bodies[0]
    assert server.base_url and body["messages"][-1]["role"] == "user"
    assert (body["logprobs"], body["top_logprobs"], body["max_tokens"]) == (True, 20, 64)
    assert response.error is None and response.text == "答案：B。"
    assert set(response.logprobs) == {"A", "B", "C"}  # "a" and "E" (no option E) are not options
    assert response.logprobs["A"] == pytest.approx(math.log(math.exp(-1.9) + math.exp(-2.5)))
    assert response.logprobs["B"] == -0.3 and response.logprobs["C"] == -3.0
    assert model.logprob_route() == "first_letter" and model.supports_logprobs


def test_first_letter_route_without_a_letter_written_is_scored_from_the_text():
    server = ChatServer(written=[("无法", [("无法", -0.5)]), ("确定", [("确定", -0.1)])])
    with serve(server) as base_url:
        (response,) = ask(OpenAIModel("m", base_url=base_url), make_request(choice_mode="logprobs"))
    assert response.error is None and response.text == "无法确定" and response.logprobs is None


def test_a_server_that_returns_no_logprobs_is_refused_not_guessed():
    server = ChatServer(reply="答案：A")  # ignores "logprobs": true
    with serve(server) as base_url:
        (response,) = ask(OpenAIModel("m", base_url=base_url), make_request(choice_mode="logprobs"))
    assert response.logprobs is None and response.text == ""
    assert "returned no logprobs" in response.error and "--choice-mode generate" in response.error


def test_completions_route_sends_the_rendered_chat_prompt_with_the_answer_prefix(tmp_path):
    template = write_gguf(tmp_path / "model.gguf")
    server = ChatServer(top_logprobs=LETTERS_AT_THE_ANSWER, owned_by="llamacpp")
    with serve(server) as base_url:
        model = OpenAIModel("m", base_url=base_url, template=str(template))
        (single,) = ask(model, make_request(choice_mode="logprobs"))
        (multi,) = ask(model, make_request(choice_mode="logprobs", kind="multi"))
    body = server.bodies[0]
    assert body["cache_prompt"] is False  # llama-server: evaluated from an empty cache, as in-process
    assert body["prompt"] == ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                              "<|im_start|>user\n高血压的首选降压药是？<|im_end|>\n<|im_start|>assistant\n答案：")
    assert (body["max_tokens"], body["logprobs"], body["temperature"]) == (1, 20, 0.0)
    assert "messages" not in body and server.bodies[1]["max_tokens"] == 8  # multi: the letters are decoded
    assert single.error is None and single.text == "答案：B" and single.logprobs["B"] == -0.3
    assert multi.text == "答案：B"
    settings = model.answer_settings(GenerateConfig(choice_mode="logprobs"))
    assert settings["logprob_method"] == "completions" and settings["assistant_prefix"] == "答案："
    assert settings["system_prompt"] == "You are a helpful assistant."
    assert settings["system_prompt_source"] == "chat template default"


def test_a_leading_bos_written_by_the_template_is_left_to_the_server(tmp_path):
    template = write_gguf(tmp_path / "bos.gguf", template="{{ bos_token }}{% for m in messages %}[{{ m['content'] }}]"
                                                          "{% endfor %}")
    server = ChatServer(top_logprobs=LETTERS_AT_THE_ANSWER)
    with serve(server) as base_url:
        ask(OpenAIModel("m", base_url=base_url, template=str(template)), make_request(choice_mode="logprobs"))
    assert server.bodies[0]["prompt"] == "[高血压的首选降压药是？]答案："


def test_vllm_continues_an_assistant_answer_prefix_in_the_chat_endpoint():
    server = ChatServer(top_logprobs=LETTERS_AT_THE_ANSWER, owned_by="vllm", model_ids=["Qwen/Qwen2.5-7B-Instruct"])
    with serve(server) as base_url:
        model = OpenAIModel("Qwen/Qwen2.5-7B-Instruct", base_url=base_url)
        (response,) = ask(model, make_request(choice_mode="logprobs"))
    body = server.bodies[0]
    assert body["messages"][-1] == {"role": "assistant", "content": "答案："}
    assert (body["continue_final_message"], body["add_generation_prompt"], body["max_tokens"]) == (True, False, 1)
    assert body["repetition_penalty"] == 1.0 and "repeat_penalty" not in body
    assert response.text == "答案：B" and response.logprobs["B"] == -0.3
    assert model.answer_settings(GenerateConfig())["model"].endswith("the server lists Qwen/Qwen2.5-7B-Instruct")


@pytest.mark.parametrize(("owned_by", "option", "sent", "absent"), [
    ("me", None, "repeat_penalty", "repetition_penalty"),  # llama-cpp-python (its default is 1.1)
    ("llamacpp", None, "repeat_penalty", "repetition_penalty"),  # llama.cpp's llama-server
    ("vllm", None, "repetition_penalty", "repeat_penalty"),
    (None, "vllm", "repetition_penalty", "repeat_penalty"),  # ?server= when the server does not say
])
def test_sampling_settings_and_a_neutral_penalty_are_sent_explicitly(owned_by, option, sent, absent):
    server = ChatServer(owned_by=owned_by)
    with serve(server) as base_url:
        model = OpenAIModel("m", base_url=base_url, server=option)
        ask(model, make_request(max_tokens=100))
    body = server.bodies[-1]
    assert (body["temperature"], body["top_p"], body[sent], body["max_tokens"]) == (0.0, 1.0, 1.0, 100)
    assert absent not in body
    assert model.answer_settings(GenerateConfig())["repeat_penalty"] == 1.0


def test_llama_cpp_python_evaluates_every_request_from_an_empty_cache():
    """Its server reuses the previous prompt's shared prefix (no switch to stop it), which changes
    greedy text: a one-token prompt sharing nothing goes before each request, one request at a time."""
    server = ChatServer(owned_by="me", delay=0.05)
    with serve(server) as base_url:
        model = OpenAIModel("m", base_url=base_url, max_concurrency=4)
        responses = ask(model, *(make_request(question=f"问题{i}") for i in range(3)))
    assert all(r.error is None and r.text == "答案：A" for r in responses)
    kinds = ["flush" if body.get("prompt") == "\n" and body["max_tokens"] == 1 else "ask" for body in server.bodies]
    assert kinds == ["flush", "ask"] * 3  # never two asks in a row, though 4 could be in flight
    assert "emptied before every request" in model.answer_settings(GenerateConfig())["server_cache"]


def test_an_unknown_server_gets_no_vendor_fields_and_the_record_says_so():
    server = ChatServer(owned_by="openai")
    with serve(server) as base_url:
        model = OpenAIModel("gpt-x", base_url=base_url)
        ask(model, make_request())
        settings = model.answer_settings(GenerateConfig())
    assert not {"repeat_penalty", "repetition_penalty"} & set(server.bodies[0])
    assert settings["repeat_penalty"] is None and settings["system_prompt_source"] == "server's chat template (unknown)"
    assert model.describe()["server"]["kind"] == "other"


def test_bad_route_options_are_named():
    with pytest.raises(ValueError, match="logprobs='best' must be one of auto, completions, prefill, first_letter"):
        OpenAIModel("m", logprobs="best")
    with pytest.raises(ValueError, match="chat template file .*missing.gguf not found"):
        OpenAIModel("m", template="/nowhere/missing.gguf")


def test_logprobs_mode_on_an_open_item_generates_text():
    server = ChatServer(reply="应首先评估心血管风险。", top_logprobs=[("A", -0.1)])
    with serve(server) as base_url:
        model = OpenAIModel("m", base_url=base_url)
        (response,) = ask(model, make_request(question="简述高血压的治疗原则。", options={},
                                              choice_mode="logprobs", max_tokens=300))
    assert "logprobs" not in server.bodies[0] and server.bodies[0]["max_tokens"] == 300
    assert response.text == "应首先评估心血管风险。" and response.logprobs is None


def test_one_kept_alive_session_and_connections_capped_at_concurrency():
    server = ChatServer(delay=0.2)
    with serve(server) as base_url:
        model = OpenAIModel("m", base_url=base_url, max_concurrency=4)
        started = time.perf_counter()
        responses = ask(model, *(make_request(question=f"问题{i}") for i in range(8)))
        elapsed = time.perf_counter() - started
    assert all(r.error is None for r in responses)
    assert 0.39 <= elapsed < 1.5  # 8 requests, 4 at a time, 0.2 s each: two rounds
    assert len(server.peers) == 4  # four connections, each reused for a second request


def test_malformed_success_body_is_an_error():
    server = ChatServer(reply="x")
    server.completion = lambda body, question: {"choices": []}  # type: ignore[method-assign]
    with serve(server) as base_url:
        model = OpenAIModel("m", base_url=base_url)
        (response,) = ask(model, make_request())
    assert response.error is not None and response.error.startswith("malformed completion")


def test_backoff_grows_with_jitter_and_is_capped():
    model = OpenAIModel("m", base_url="http://127.0.0.1:9", backoff_base=1.0, backoff_max=5.0)
    waits = [[model._backoff(attempt, None) for _ in range(200)] for attempt in range(5)]
    assert all(0.5 <= w <= 1.0 for w in waits[0]) and all(2.0 <= w <= 4.0 for w in waits[2])
    assert all(2.5 <= w <= 5.0 for w in waits[4])  # 16 s capped at 5
    assert len({round(w, 6) for w in waits[1]}) > 100  # jittered, not one fixed value
    assert model._backoff(0, 3.0) == 3.0 and model._backoff(0, 90.0) == 5.0  # Retry-After wins, capped


def test_max_rps_spaces_requests_evenly():
    server = ChatServer()
    with serve(server) as base_url:
        model = OpenAIModel("m", base_url=base_url, max_concurrency=8, max_rps="20")  # as from ?max_rps=20
        responses = ask(model, *(make_request(question=f"问题{i}") for i in range(11)))
    assert all(r.error is None for r in responses)
    gaps = [b - a for a, b in zip(server.arrival_times, server.arrival_times[1:], strict=False)]
    assert min(gaps) >= 0.025 and sum(gaps) >= 0.45  # one every 50 ms, though 8 could go at once
    assert model.describe()["max_rps"] == 20.0


@pytest.mark.parametrize("value", ["0", "-1", "fast"])
def test_max_rps_must_be_a_positive_number(value):
    with pytest.raises(ValueError, match="max_rps"):
        OpenAIModel("m", max_rps=value)


def test_a_gguf_template_is_read_from_the_metadata_alone(tmp_path):
    from medgap.models.chat_template import load_template, read_gguf_metadata

    path = write_gguf(tmp_path / "m.gguf", tokens=("<s>", "<|im_end|>", "字", "a"))
    template = load_template(path)
    assert (template.bos_token, template.eos_token) == ("<s>", "<|im_end|>")
    assert template.default_system_prompt() == "You are a helpful assistant."
    assert template.render([{"role": "system", "content": "只用中文。"}, {"role": "user", "content": "你好"}]) == (
        "<|im_start|>system\n只用中文。<|im_end|>\n<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n")
    meta = read_gguf_metadata(path, ("general.architecture",), tokens_key="tokenizer.ggml.tokens")
    assert meta == {"general.architecture": "llama", "tokenizer.ggml.tokens": ["<s>", "<|im_end|>", "字", "a"]}
    jinja = tmp_path / "plain.jinja"
    jinja.write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}", encoding="utf-8")
    assert load_template(jinja).default_system_prompt() is None  # writes no system prompt of its own
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + bytes(8))
    with pytest.raises(ValueError, match="bad.gguf: not a readable GGUF file"):
        load_template(bad)
    empty = write_gguf(tmp_path / "empty.gguf", template="")
    with pytest.raises(ValueError, match="has no chat template"):
        load_template(empty)


def test_a_server_that_did_not_answer_is_asked_again_not_taken_for_an_unknown_one():
    with serve(ChatServer()) as base_url:
        pass  # the port is free again: connections are refused
    model = OpenAIModel("m", base_url=base_url)
    assert model.server_info()["kind"] == "other" and model._server_info is None  # not settled
    with serve(ChatServer(owned_by=None)) as base_url:  # answers 404: no GET /models
        model = OpenAIModel("m", base_url=base_url)
        assert model.server_info()["kind"] == "other" and model._server_info is not None
