"""Suites: the bundled demo, YAML suites, bare data files, deterministic per-task limits, and the
`medgap datasets` command."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from medgap.cli.datasets import datasets
from medgap.datasets import DatasetError
from medgap.datasets.suites import PACKAGE_DATA, list_suites, load_suite, take_per_task


def test_bundled_suites_are_listed():
    assert {"demo", "demo-robustness"} <= set(list_suites())


def test_demo_suite_has_the_intended_mix():
    suite = load_suite("demo")
    assert suite.name == "demo" and suite.permutations == 1
    assert len(suite.samples) == 43
    assert suite.counts() == {
        "knowledge_qa": {"single": 24},
        "safety_ethics": {"single": 8, "fill": 4},
        "complex_reasoning": {"open": 3},
        "language_understanding": {"extraction": 2},
        "language_generation": {"record": 2},
    }
    tasks = Counter(sample.task for sample in suite.samples)
    assert sum(n for task, n in tasks.items() if task.startswith("cmmlu-")) == 16
    assert len([task for task in tasks if task.startswith("cmmlu-")]) >= 3
    assert tasks["mtcmb-TCM-ED-A"] + tasks["mtcmb-TCM-ED-B"] == 8
    assert tasks["mtcmb-TCM-SE-B"] == 8 and tasks["mtcmb-TCM-SE-A"] == 4
    assert tasks["cmb-clin"] == 2 and tasks["mtcmb-TCM-FT"] == 1
    assert len({s.metadata["case_id"] for s in suite.samples if s.task == "cmb-clin"}) <= 2
    assert len({sample.id for sample in suite.samples}) == 43
    assert all(sample.gold is not None for sample in suite.samples)
    assert {source.license for source in suite.sources()} == {"CC BY-NC-SA 4.0", "CC-BY 4.0", "Apache-2.0", "MIT"}


def test_demo_robustness_is_the_choice_items_under_five_orders():
    suite = load_suite("demo-robustness")
    assert suite.permutations == 5
    assert len(suite.samples) == 32 and all(sample.is_choice for sample in suite.samples)
    demo_choice = {s.id for s in load_suite("demo").samples if s.is_choice}
    assert {s.id for s in suite.samples} == demo_choice


def test_demo_data_ships_each_source_attribution():
    for folder in ("cmmlu", "mtcmb", "cmb_clin"):
        text = (PACKAGE_DATA / "demo" / folder / "SOURCE.md").read_text(encoding="utf-8")
        assert "License" in text and "Subset rule" in text and "medgap demo subset" in text
    assert "CC BY-NC-SA 4.0" in (PACKAGE_DATA / "demo" / "cmmlu" / "SOURCE.md").read_text(encoding="utf-8")


def test_demo_rows_are_verbatim_copies_of_the_source_rows(source_data):
    """The fixtures hold every demo row, copied from the full data (`tools/make_fixtures.py --check`)."""
    demo = PACKAGE_DATA / "demo"
    pairs = [(p, source_data / "mtcmb" / p.name) for p in (demo / "mtcmb").glob("*.jsonl")]
    pairs += [
        (p, source_data / "cmmlu_medical" / "test" / p.name) for p in (demo / "cmmlu" / "test").glob("*.csv")
    ]
    for subset, full in pairs:
        source = full.read_text(encoding="utf-8")
        assert all(line in source for line in subset.read_text(encoding="utf-8").splitlines(keepends=True))
    [case] = json.loads((demo / "cmb_clin" / "CMB-test-qa.json").read_text(encoding="utf-8"))
    full_cases = json.loads((source_data / "cmb_clin" / "CMB-test-qa.json").read_text(encoding="utf-8"))
    assert case in full_cases


def test_data_directory_as_suite_with_deterministic_limit(source_data):
    first = load_suite(str(source_data), limit_per_task=3)
    again = load_suite(str(source_data), limit_per_task=3)
    assert [s.id for s in first.samples] == [s.id for s in again.samples]
    per_task = Counter(sample.task for sample in first.samples)
    assert len(per_task) == 9 + 5 + 1 and set(per_task.values()) == {3}
    larger = {s.id for s in load_suite(str(source_data), limit_per_task=10).samples}
    assert {s.id for s in first.samples} <= larger
    other_seed = load_suite(str(source_data), limit_per_task=3, seed=1)
    assert {s.id for s in other_seed.samples} != {s.id for s in first.samples}


def test_limit_is_a_total_drawn_from_every_task_in_turn():
    demo = load_suite("demo")
    tasks = list(dict.fromkeys(s.task for s in demo.samples))
    twelve = load_suite("demo", limit=12).samples
    assert len(demo.samples) == 43 and len(twelve) == 12  # not 12 per task: that would be all 43
    assert [s.task for s in twelve] == tasks[:12]  # 14 tasks: the first 12 give one item each
    twenty = load_suite("demo", limit=20).samples
    assert set(Counter(s.task for s in twenty).values()) == {1, 2}  # every task once, then a second round
    positions = [[s.id for s in demo.samples].index(s.id) for s in twelve]
    assert positions == sorted(positions)
    assert {s.id for s in load_suite("demo", limit=5).samples} <= {s.id for s in twelve}
    both = load_suite("demo", limit_per_task=1, limit=3).samples
    assert len(both) == 3 and len({s.task for s in both}) == 3
    with pytest.raises(DatasetError, match="limit must be at least 1"):
        load_suite("demo", limit=0)


def test_take_per_task_keeps_file_order(source_data):
    samples = load_suite(str(source_data / "mtcmb" / "TCM-ED-A.jsonl")).samples
    kept = take_per_task(samples, 10, seed=7)
    positions = [samples.index(sample) for sample in kept]
    assert len(samples) > 10 and len(kept) == 10 and positions == sorted(positions)
    assert take_per_task(samples, None, seed=7) == samples


def write_suite(folder: Path, text: str) -> Path:
    path = folder / "suite.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_suite_resolves_paths_limits_renames_and_filters(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    lines = [
        {
            "id": i,
            "question": f"q{i}",
            "options": ["A. x", "B. y"],
            "answer": "A",
            "dimension": "knowledge_qa",
        }
        for i in range(10)
    ]
    lines += [{"id": 99, "question": "essay", "answer": "text", "dimension": "knowledge_qa"}]
    (data / "mine.jsonl").write_text("\n".join(json.dumps(r) for r in lines), encoding="utf-8")
    path = write_suite(
        tmp_path,
        """
name: mixed
description: test suite
seed: 4
permutations: 3
entries:
  - path: data/mine.jsonl
    format: generic
    task: renamed
    limit: 4
    kinds: [single]
  - path: demo/mtcmb/TCM-SE-A.jsonl
""",
    )
    suite = load_suite(str(path))
    assert (suite.name, suite.seed, suite.permutations) == ("mixed", 4, 3)
    mine = [s for s in suite.samples if s.task == "renamed"]
    assert len(mine) == 4 and all(s.id.startswith("renamed/") and s.kind == "single" for s in mine)
    assert sum(s.task == "mtcmb-TCM-SE-A" for s in suite.samples) == 4  # found in the package data folder
    capped = load_suite(str(path), limit_per_task=2)
    assert Counter(s.task for s in capped.samples) == {"renamed": 2, "mtcmb-TCM-SE-A": 2}
    assert {s.id for s in capped.samples} <= {s.id for s in suite.samples}


def test_yaml_suite_errors_name_the_file(tmp_path):
    bad_yaml = write_suite(tmp_path, "name: x\nentries:\n  - path: [unclosed\n")
    with pytest.raises(DatasetError) as info:
        load_suite(str(bad_yaml))
    assert info.value.path == str(bad_yaml) and info.value.line is not None
    missing = write_suite(tmp_path, "name: x\nentries:\n  - path: nowhere.jsonl\n")
    with pytest.raises(DatasetError, match="nowhere.jsonl"):
        load_suite(str(missing))
    typo = write_suite(tmp_path, "name: x\nentries:\n  - path: demo/mtcmb/TCM-SE-A.jsonl\n    limt: 3\n")
    with pytest.raises(DatasetError) as info:
        load_suite(str(typo))
    assert info.value.field == "entries.0.limt"
    twice = write_suite(
        tmp_path,
        "name: x\nentries:\n  - path: demo/mtcmb/TCM-SE-A.jsonl\n  - path: demo/mtcmb/TCM-SE-A.jsonl\n",
    )
    with pytest.raises(DatasetError, match="also comes from"):
        load_suite(str(twice))


def test_unknown_suite_name_lists_the_bundled_ones():
    with pytest.raises(DatasetError, match="demo-robustness"):
        load_suite("no-such-suite")


def test_single_file_suite_collects_skipped_rows(tmp_path):
    path = tmp_path / "TCM-SE-A.jsonl"
    path.write_text(
        '{"id": 1, "question": "q", "answer": "x", "source": "s"}\n{"id": 2, "question": \n', encoding="utf-8"
    )
    suite = load_suite(str(path), skip_bad=True)
    assert len(suite.samples) == 1 and suite.permutations == 1
    assert len(suite.skipped) == 1 and suite.skipped[0].startswith(f"{path}:2:")


def test_datasets_command_lists_suites_and_formats(capsys):
    datasets(spec=None, format=None, dimension=None, limit=None, skip_bad=False, json_out=True)
    listing = json.loads(capsys.readouterr().out)
    by_name = {suite["name"]: suite for suite in listing["suites"]}
    assert by_name["demo"]["items"] == 43 and by_name["demo-robustness"]["permutations"] == 5
    assert set(listing["formats"]) == {"medbench", "cmmlu", "cmb_clin", "mtcmb", "generic"}
    datasets(spec=None, format=None, dimension=None, limit=None, skip_bad=False, json_out=False)
    table = capsys.readouterr().out
    assert "demo-robustness" in table and "cmb_clin" in table


def test_datasets_command_inspects_a_file(capsys, source_data):
    datasets(
        spec=str(source_data / "mtcmb"), format=None, dimension=None, limit=None, limit_per_task=5, skip_bad=False,
        json_out=True
    )
    [suite] = json.loads(capsys.readouterr().out)["suites"]
    assert suite["items"] == 25 and suite["tasks"]["mtcmb-TCM-FT"]["kinds"] == {"open": 5}
