"""The openai/ backend against a real local HTTP server (tests/servers.py)."""

from __future__ import annotations

import asyncio
import json
import math
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from servers import ChatServer, Failure, serve

from medgap.models import get_model
from medgap.models.base import GenerateConfig, ModelRequest
from medgap.models.openai import OpenAIModel, retry_after_seconds
from medgap.records import Attempt, Message, Response, Sample, Source

KEY_ENV = "MEDGAP_TEST_OPENAI_KEY"
SECRET = "sk-test-0123456789abcdef"


def make_request(question: str = "高血压的首选降压药是？", options: dict[str, str] | None = None,
                 **config) -> ModelRequest:
    options = {"A": "利尿剂", "B": "β受体阻滞剂", "C": "ACEI", "D": "钙通道阻滞剂"} if options is None else options
    sample = Sample(id="q1", source=Source(dataset="test"), task="exam", dimension="knowledge_qa",
                    kind="single" if options else "open", question=question, options=options)
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
    gaps = [later - earlier for earlier, later in zip(server.arrival_times, server.arrival_times[1:])]
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


def test_logprobs_mode_maps_option_letters():
    top = [("A", -0.2), (" B", -2.0), ("Ｃ", -3.0), (" A", -2.5), ("答案", -4.0), ("a", -5.0), ("E", -6.0)]
    server = ChatServer(top_logprobs=top)
    with serve(server) as base_url:
        model = OpenAIModel("m", base_url=base_url)
        (response,) = ask(model, make_request(choice_mode="logprobs"))
    body = server.bodies[0]
    assert (body["logprobs"], body["top_logprobs"], body["max_tokens"]) == (True, 20, 1)
    assert response.error is None and response.text == "A"
    assert set(response.logprobs) == {"A", "B", "C"}  # "a" and "E" (no option E) are not options
    assert response.logprobs["A"] == pytest.approx(math.log(math.exp(-0.2) + math.exp(-2.5)))
    assert response.logprobs["B"] == -2.0 and response.logprobs["C"] == -3.0
    assert model.supports_logprobs


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
