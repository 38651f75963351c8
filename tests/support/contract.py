"""Fuzzing a running server against its own /openapi.json with schemathesis (the CLI, in a
subprocess: its phases and report are the tool's own, and a hang cannot stall pytest).

Used by tests/server/test_contract.py (seeded, bounded) and scripts/fuzz (unseeded, for minutes):
`python -m tests.support.contract --url URL --token STATIC_TOKEN --document ID [--minutes N]`.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
PHASES = "examples,coverage,fuzzing"


@dataclass
class Outcome:
    returncode: int
    output: str

    @property
    def tested(self) -> tuple[int, int]:
        """(operations tested, operations in the schema), from the summary."""
        found = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", self.output)
        return (int(found.group(3)), int(found.group(2))) if found else (0, -1)

    @property
    def findings(self) -> str:
        """The report from its first failure or error on (the whole output if none is marked)."""
        for marker in ("=== ERRORS ===", "=== FAILURES ==="):
            for line_start, line in enumerate(self.output.splitlines()):
                if marker in line:
                    return "\n".join(self.output.splitlines()[line_start:])
        return self.output


def prepare(url: str, static_token: str, document_id: str) -> dict[str, str]:
    """A chat with a question about the document, so the stream has an answer to send."""
    access = requests.post(
        f"{url}/auth/exchange", json={"static_token": static_token}, timeout=30
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {access}"}
    chat = requests.post(f"{url}/chats", json={"title": "fuzz"}, headers=headers, timeout=30)
    chat_id = chat.json()["id"]
    posted = requests.post(
        f"{url}/chats/{chat_id}/messages",
        json={"content": "Какие наружные стены?", "attached_document_ids": [document_id]},
        headers=headers,
        timeout=30,
    )
    posted.raise_for_status()
    return {"chat_id": chat_id, "document_id": document_id}


def run(
    url: str,
    static_token: str,
    data: dict[str, str],
    *,
    workdir: Path,
    seed: int | None = None,
    max_examples: int | None = None,
    max_seconds: int | None = None,
    timeout: float | None = None,
) -> Outcome:
    """Every phase but stateful and every check, against `url`; `workdir` holds schemathesis's
    cache and reports (it writes them where it runs)."""
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(CONFIG),
        "--no-color",
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--phases",
        PHASES,
        "--workers",
        "1",  # several threads trip a CPython 3.11 ast bug in hypothesis (SystemError)
        "--generation-database",
        "none",  # each run starts afresh: a seeded run is the same run every time
    ]
    if seed is not None:
        command += ["--seed", str(seed)]
    if max_examples is not None:
        command += ["--max-examples", str(max_examples)]
    if max_seconds is not None:
        command += ["--max-time", str(max_seconds)]
    env = {
        **os.environ,
        "AIZOOMDOC_FUZZ_TOKEN": static_token,
        "AIZOOMDOC_FUZZ_CHAT": data["chat_id"],
        "AIZOOMDOC_FUZZ_DOCUMENT": data["document_id"],
    }
    workdir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout
    )
    return Outcome(done.returncode, done.stdout + done.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True, help="a user's static token")
    parser.add_argument("--document", required=True, help="a document id (e.g. the demo's)")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "fuzz")
    args = parser.parse_args()
    data = prepare(args.url, args.token, args.document)
    outcome = run(
        args.url, args.token, data, workdir=args.workdir, max_seconds=int(args.minutes * 60)
    )
    print(outcome.output)
    return outcome.returncode


if __name__ == "__main__":
    sys.exit(main())
