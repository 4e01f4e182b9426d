"""The runner with mock models: rows stored, resume asks only what is missing, errors kept apart."""

import asyncio

from medgap.analysis.metrics import summarize_run
from medgap.models import GenerateConfig, get_model
from medgap.models.base import Model, ModelRequest
from medgap.records import Response, RunConfig
from medgap.runner import FLUSH_TURNS, TooManyFailures, run_eval
from medgap.store import Store
from tests.helpers import choice_sample


def run(store, samples, model, run_id="r1", permutations=1):
    config = RunConfig(run_id=run_id, model=model.name, suite="fixture", permutations=permutations)
    if not store.has_run(run_id):
        store.save_run(config)
        store.save_samples(run_id, samples)
    asyncio.run(run_eval(config, samples, model, store, gen=GenerateConfig(), concurrency=4))
    return summarize_run(store, run_id)


class Flaky(Model):
    """Fails on the listed sample ids, answers A otherwise; counts calls."""

    def __init__(self, failing: set[str]) -> None:
        super().__init__("flaky")
        self.failing, self.calls = failing, []

    async def generate(self, request: ModelRequest) -> Response:
        self.calls.append(request.sample.id)
        if request.sample.id in self.failing:
            return Response(error="HTTP 500 after 5 retries")
        return Response(text="答案：A")


def test_oracle_scores_everything_and_rows_are_stored(tmp_path):
    samples = [choice_sample(f"q{i}", answer="ABCD"[i % 4]) for i in range(8)]
    with Store(tmp_path / "runs.db") as store:
        summary = run(store, samples, get_model("mock/oracle"))
        assert summary.overall.value("accuracy") == 1.0
        assert summary.overall.metrics["accuracy"].n == 8
        assert len(store.rows("r1")) == 8


def test_errors_are_not_scored_and_are_retried_on_resume(tmp_path):
    samples = [choice_sample(f"q{i}", answer="A") for i in range(6)]
    with Store(tmp_path / "runs.db") as store:
        flaky = Flaky(failing={"q2", "q4"})
        summary = run(store, samples, flaky)
        assert summary.overall.errors == 2
        assert summary.overall.metrics["accuracy"].n == 4 and summary.overall.value("accuracy") == 1.0
        healed = Flaky(failing=set())
        summary = run(store, samples, healed)
        assert sorted(healed.calls) == ["q2", "q4"]  # only the failed rows are asked again
        assert summary.overall.errors == 0 and summary.overall.metrics["accuracy"].n == 6


def test_unanswered_is_reported_apart_from_wrong(tmp_path):
    samples = [choice_sample(f"q{i}", answer="B") for i in range(4)]
    with Store(tmp_path / "runs.db") as store:
        summary = run(store, samples, get_model("mock/refuse"))
    assert summary.overall.value("accuracy") == 0.0
    assert summary.overall.value("unanswered") == 1.0


def test_permutations_store_one_row_per_order(tmp_path):
    samples = [choice_sample(f"q{i}", answer="C") for i in range(3)]
    with Store(tmp_path / "runs.db") as store:
        summary = run(store, samples, get_model("mock/first"), permutations=5)
        rows = store.rows("r1")
    assert len(rows) == 15
    assert {r.permutation for r in rows} == {0, 1, 2, 3, 4}
    # "first" picks whatever is shown first: right exactly when the gold landed in front
    expected = sum(r.attempt.order[0] == "C" for r in rows) / 15
    assert summary.overall.value("accuracy") == expected


def test_exact_ci_matches_scipy_binomtest():
    from scipy.stats import binomtest

    from medgap.analysis.stats import proportion_ci

    for k, n in [(0, 5), (5, 5), (7, 10), (30, 48), (1, 200)]:
        expected = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
        low, high = proportion_ci(k, n)
        assert abs(low - expected.low) < 1e-9 and abs(high - expected.high) < 1e-9


def test_summary_from_the_rows_just_written_equals_the_stored_summary(tmp_path):
    """`medgap run` summarizes from the rows it just wrote instead of reading them back: same result."""
    samples = [choice_sample(f"q{i}", answer="ABCD"[i % 4], dimension=("knowledge_qa", "safety_ethics")[i % 2])
               for i in range(12)]
    config = RunConfig(run_id="r1", model="mock/random", suite="fixture", permutations=3)
    with Store(tmp_path / "runs.db") as store:
        store.save_run(config)
        store.save_samples("r1", samples)
        written = asyncio.run(run_eval(config, samples, get_model("mock/random"), store, gen=GenerateConfig(),
                                       concurrency=5))
        assert len(written) == 36
        assert summarize_run(store, "r1", written=written, samples=samples) == summarize_run(store, "r1")
        # rows this process did not write (a resumed run) make it read the store instead
        partial = summarize_run(store, "r1", written=written[:10], samples=samples)
        assert partial == summarize_run(store, "r1")


class Instant(Model):
    """Answers A at once; records how many rows the store held when each call started."""

    def __init__(self, store: Store) -> None:
        super().__init__("instant")
        self.store, self.seen = store, []

    async def generate(self, request: ModelRequest) -> Response:
        self.seen.append(self.store.count_rows("r1"))
        await asyncio.sleep(0)
        return Response(text="答案：A")


def test_rows_wait_at_most_flush_turns_of_the_event_loop_and_share_commits(tmp_path):
    samples = [choice_sample(f"q{i}") for i in range(20)]
    config = RunConfig(run_id="r1", model="instant", suite="fixture")
    with Store(tmp_path / "runs.db") as store:
        model = Instant(store)
        commits = []
        write_rows = store.write_rows
        store.write_rows = lambda rows, **kw: (commits.append(len(rows)), write_rows(rows, **kw))  # type: ignore[method-assign]
        written = asyncio.run(run_eval(config, samples, model, store, gen=GenerateConfig(), concurrency=4))
        assert store.count_rows("r1") == 20 == len(written)
    # Each turn (the sleep(0)) 4 calls finish and the workers start the next 4 in the same turn. A
    # finished row waits at most FLUSH_TURNS turns for others to share its commit: each call sees every
    # row finished FLUSH_TURNS turns before its own (and none still in flight).
    for index, seen in enumerate(model.seen):
        turn = index // 4
        assert 4 * max(0, turn - FLUSH_TURNS) <= seen <= 4 * max(0, turn - 1), (index, model.seen)
    assert sum(commits) == 20 and len(commits) <= -(-20 // (4 * FLUSH_TURNS)) + 1, commits


def test_a_store_that_cannot_write_stops_the_run_with_its_error(tmp_path):
    samples = [choice_sample(f"q{i}") for i in range(10)]
    config = RunConfig(run_id="r1", model="mock/oracle", suite="fixture")
    with Store(tmp_path / "runs.db") as store:
        store.db.execute("DROP TABLE rows")
        try:
            asyncio.run(run_eval(config, samples, get_model("mock/oracle"), store, gen=GenerateConfig(),
                                 concurrency=2))
        except Exception as exc:  # noqa: BLE001
            assert "rows" in str(exc)
        else:
            raise AssertionError("the run finished although no row could be stored")


class Broken(Model):
    """Fails every call, after an await (like a refused connection); counts calls."""

    def __init__(self) -> None:
        super().__init__("broken")
        self.calls = 0

    async def generate(self, request: ModelRequest) -> Response:
        self.calls += 1
        await asyncio.sleep(0.001)
        return Response(error="ClientConnectorError: Cannot connect to host 127.0.0.1:9")


def test_a_run_stops_after_max_failures_in_a_row_and_keeps_its_rows(tmp_path):
    samples = [choice_sample(f"q{i}") for i in range(100)]
    config = RunConfig(run_id="r1", model="broken", suite="fixture")
    model = Broken()
    with Store(tmp_path / "runs.db") as store:
        try:
            asyncio.run(run_eval(config, samples, model, store, gen=GenerateConfig(), concurrency=4, max_failures=10))
        except TooManyFailures as exc:
            assert "10 items in a row failed" in str(exc) and "Cannot connect" in str(exc)
        else:
            raise AssertionError("the run went on although every request failed")
        assert store.count_rows("r1") >= 10 and store.completed_keys("r1") == set()
    assert model.calls <= 10 + 4  # the workers in flight were stopped, the other items never asked


def test_one_success_resets_the_failure_count_and_zero_never_stops(tmp_path):
    samples = [choice_sample(f"q{i}") for i in range(30)]
    config = RunConfig(run_id="r1", model="flaky", suite="fixture")
    failing = {f"q{i}" for i in range(30) if i % 5}  # 4 failures, 1 success, 4 failures, ...
    with Store(tmp_path / "runs.db") as store:
        asyncio.run(run_eval(config, samples, Flaky(failing), store, gen=GenerateConfig(), concurrency=1,
                             max_failures=5))
        assert store.count_rows("r1") == 30
        config = RunConfig(run_id="r2", model="broken", suite="fixture")
        asyncio.run(run_eval(config, samples, Broken(), store, gen=GenerateConfig(), concurrency=3, max_failures=0))
        assert store.count_rows("r2") == 30


def test_a_run_hands_back_to_the_collector_what_it_froze(tmp_path):
    """The runner keeps the collector off what exists before asking; afterwards, finished or stopped,
    nothing stays frozen (a program calling run_eval again and again would otherwise never free the
    cyclic garbage each call left)."""
    import gc

    samples = [choice_sample(f"q{i}") for i in range(12)]
    with Store(tmp_path / "runs.db") as store:
        run(store, samples, get_model("mock/oracle"))
        assert gc.get_freeze_count() == 0
        config = RunConfig(run_id="r2", model="broken", suite="fixture")
        try:
            asyncio.run(run_eval(config, samples, Broken(), store, gen=GenerateConfig(), concurrency=2, max_failures=3))
        except TooManyFailures:
            pass
        assert gc.get_freeze_count() == 0
