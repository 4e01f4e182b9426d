"""A throwaway PostgreSQL cluster for the store tests: Debian's server binaries, a data folder under a
temp dir, trust authentication on 127.0.0.1 and a Unix socket in that folder, stopped and deleted
afterwards. As root the server runs as the `postgres` user (PostgreSQL refuses root).

    python tests/postgres_cluster.py start     # prints `export MEDGAP_TEST_POSTGRES=postgresql://...`
    python tests/postgres_cluster.py stop      # stops the cluster that start recorded

The tests use $MEDGAP_TEST_POSTGRES when it is set (`.ci/run` starts one this way), else start a
cluster of their own when the binaries are there, else skip with the reason.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENV = "MEDGAP_TEST_POSTGRES"
STATE = Path(tempfile.gettempdir()) / "medgap-test-postgres"  # the folder `start` made, for `stop`
USER = "medgap"


def find_bin(name: str) -> str | None:
    """`initdb`/`pg_ctl` on PATH or in Debian's versioned folder (not on PATH there)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def why_unavailable() -> str | None:
    if find_bin("initdb") is None or find_bin("pg_ctl") is None:
        return "PostgreSQL server binaries not found (apt-get install postgresql; .ci/run installs them)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser to start PostgreSQL as another user"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def start(folder: Path | None = None) -> tuple[str, Path]:
    """Start a cluster in `folder` (default: a new temp dir; as root, the server user must be able to
    reach it); returns (URL of its `postgres` database, its folder)."""
    reason = why_unavailable()
    if reason:
        raise RuntimeError(reason)
    folder = folder or Path(tempfile.mkdtemp(prefix="medgap-pg-"))
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data = folder / "data"
    port = free_port()
    run_quietly([find_bin("initdb"), "-D", str(data), "-U", USER, "-A", "trust", "-E", "UTF8", "--no-sync"])
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
    run_quietly([find_bin("pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "-t", "60",
                 "start"])
    return f"postgresql://{USER}@127.0.0.1:{port}/postgres", folder


def run_quietly(command: list[str]) -> None:
    done = subprocess.run(as_server_user(command), check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    if done.returncode:
        raise RuntimeError(f"{Path(command[0]).name} failed: {done.stderr.strip()[-1000:]}")


def stop(folder: Path) -> None:
    data = folder / "data"
    if data.is_dir():
        subprocess.run(as_server_user([find_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                       check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.2)
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["start"]:
        url, made = start()
        STATE.write_text(str(made))
        print(f"export {ENV}={url}")
    elif sys.argv[1:] == ["stop"]:
        if STATE.exists():
            stop(Path(STATE.read_text()))
            STATE.unlink()
    else:
        sys.exit(__doc__)
