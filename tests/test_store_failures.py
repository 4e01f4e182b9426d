"""Every storage failure ends a command with one message (what, where, what to do), never a traceback,
and loses nothing already committed: a full disk during set-up or mid-run, a read-only place, a
damaged or truncated database. The full disk is a real one: a small tmpfs (needs root to mount;
skipped otherwise)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from cli_process import environment, medgap, write_items

from medgap.store import Store


@contextlib.contextmanager
def small_disk(where: Path, size: str, read_only: bool = False):
    where.mkdir()
    options = f"size={size}" + (",ro" if read_only else "")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], check=False,
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def remount_read_only(where: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)


def cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(medgap(*args), env=environment(), cwd=cwd, check=False, capture_output=True, text=True,
                          timeout=120)


def assert_clean(result: subprocess.CompletedProcess, *expected: str) -> str:
    message = " ".join(result.stderr.split())
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Error:" not in result.stderr.replace("error:", "")
    for text in expected:
        assert text in message, message
    return message


def big_items(path: Path, n: int, chars: int) -> Path:
    lines = [json.dumps({"question": f"第{i}题" + "患者" * (chars // 2),
                         "options": ["A. 甲", "B. 乙", "C. 丙", "D. 丁"], "answer": "C",
                         "other": {"source": "Med-Exam", "id": i}}, ensure_ascii=False)
             for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_full_disk_during_set_up_stores_no_half_made_run(tmp_path):
    data = big_items(tmp_path / "Med-Exam.jsonl", 300, 2000)  # ~1.8 MB of items
    with small_disk(tmp_path / "disk", "512k") as disk:
        db = disk / "runs.db"
        result = cli("run", "-m", "mock/oracle", "--suite", data, "--db", db, "--run-id", "r", cwd=tmp_path)
        assert_clean(result, f"database {db}", "the disk is full")
        with Store(db) as store:
            assert not store.has_run("r") and store.samples("r") == []  # all or nothing
        again = cli("run", "-m", "mock/oracle", "--suite", data, "--db", db, "--run-id", "r", cwd=tmp_path)
        assert_clean(again, "the disk is full")  # not "0/0" and exit 0


def test_a_full_disk_mid_run_keeps_the_rows_committed_before_it(tmp_path):
    data = write_items(tmp_path / "Med-Exam.jsonl", 400)
    with small_disk(tmp_path / "disk", "780k") as disk:  # set-up (schema included) fits, the rows do not
        db = disk / "runs.db"
        result = cli("run", "-m", "mock/oracle", "--suite", data, "--db", db, "--run-id", "r", cwd=tmp_path)
        assert_clean(result, f"database {db}", "the disk is full", "run the same command again to resume")
        with Store(db) as store:
            assert store.has_run("r") and len(store.samples("r")) == 400
            stored = store.count_rows("r")
    assert 0 < stored < 400  # batches committed before the disk filled up are kept


def test_a_read_only_place_gives_one_message(tmp_path):
    data = write_items(tmp_path / "Med-Exam.jsonl", 5)
    with small_disk(tmp_path / "disk", "4m") as disk:
        db = disk / "runs.db"
        made = cli("run", "-m", "mock/oracle", "--suite", data, "--db", db, "--run-id", "r", "-q", cwd=tmp_path)
        assert made.returncode == 0, made.stderr
        remount_read_only(disk)
        assert_clean(cli("run", "-m", "mock/oracle", "--suite", data, "--db", db, "--run-id", "r2", cwd=tmp_path),
                     f"database {db}")
        shown = cli("results", "r", "--db", db, cwd=tmp_path)
        if shown.returncode != 0:  # SQLite may read a WAL database on a read-only disk, or refuse cleanly
            assert_clean(shown, f"database {db}")
    with pytest.raises(Exception):  # noqa: B017 -- the disk is gone again: nothing was left mounted
        (tmp_path / "disk" / "runs.db").stat()


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_database_gives_one_message(tmp_path, damage):
    data = write_items(tmp_path / "Med-Exam.jsonl", 300)
    db = tmp_path / "runs.db"
    made = cli("run", "-m", "mock/oracle", "--suite", data, "--db", db, "--run-id", "r", "-q", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert not Path(f"{db}-wal").exists() or os.path.getsize(f"{db}-wal") == 0
    if damage == "garbage":
        db.write_bytes(b"this is not a database\n" * 200)
    else:
        with db.open("r+b") as handle:
            handle.truncate(db.stat().st_size // 2)
    for command in (("results", "r"), ("runs",), ("export", "r"),
                    ("run", "-m", "mock/oracle", "--suite", str(data), "--run-id", "r")):
        assert_clean(cli(*command, "--db", db, cwd=tmp_path), f"database {db}", "--db")
