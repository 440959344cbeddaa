"""A throwaway PostgreSQL 15 cluster for the store tests, started from the machine's binaries.

PostgreSQL refuses to run as root, so when the tests run as root the cluster belongs to the
``postgres`` system user (or ``nobody``). Where no binaries exist the caller skips with the
reason this module gives.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CANDIDATE_DIRS = [
    "/usr/lib/postgresql/15/bin",
    "/usr/local/pgsql/bin",
    "/usr/pgsql-15/bin",
    "/opt/homebrew/opt/postgresql@15/bin",
]


def find_bindir() -> Path | None:
    override = os.environ.get("CIBLE_TEST_PG_BINDIR")
    candidates = [override] if override else []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(out.stdout.strip())
    candidates += CANDIDATE_DIRS
    if shutil.which("initdb"):
        candidates.append(str(Path(shutil.which("initdb") or "").resolve().parent))
    for candidate in candidates:
        if (
            candidate
            and (Path(candidate) / "initdb").exists()
            and (Path(candidate) / "pg_ctl").exists()
        ):
            return Path(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    bindir: Path
    root: Path
    port: int
    run_as: str | None

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def start_cluster() -> Cluster:
    bindir = find_bindir()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL 15 binaries (initdb, pg_ctl) not found")
    run_as = None
    if os.geteuid() == 0:
        for user in ("postgres", "nobody"):
            try:
                pwd.getpwnam(user)
            except KeyError:
                continue
            run_as = user
            break
        if run_as is None:
            raise FileNotFoundError("running as root and no non-root user to own the cluster")
    root = Path(tempfile.mkdtemp(prefix="cible-pg-"))
    if run_as:
        entry = pwd.getpwnam(run_as)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    os.chmod(root, 0o700)
    cluster = Cluster(bindir, root, _free_port(), run_as)
    data = root / "data"
    cluster._run(
        "initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"
    )
    options = f"-p {cluster.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    cluster._run("pg_ctl", "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start")
    return cluster
