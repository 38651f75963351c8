"""Processes that open one new SQLite file at the same moment (gunicorn's workers booting) all
get it in WAL mode: `enable_wal` retries where SQLite refuses the switch without its busy wait.

Without the retry about one open in a hundred fails with "database is locked" here (seen in CI: a
worker of a two-worker server failed to boot on a new catalog.db); 360 opens make a pass likely
only with it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

SCRIPT = """
import sqlite3, sys, time
from webapp.stores.sqlite import enable_wal
path, start = sys.argv[1], float(sys.argv[2])
connection = sqlite3.connect(path, timeout=10, isolation_level=None)
while time.time() < start:
    pass
enable_wal(connection)
assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
"""


def test_processes_switching_a_new_file_to_wal_at_once_all_succeed(tmp_path: Path) -> None:
    failures = []
    for round_ in range(60):
        start = time.time() + 0.5  # every process is connected and spinning by then
        processes = [subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path / f"{round_}.db"),
                                       str(start)], stderr=subprocess.PIPE, text=True)
                     for _ in range(6)]
        for process in processes:
            _, error = process.communicate(timeout=60)
            if process.returncode:
                failures.append(error)
    assert not failures, failures[0][-1500:]
