"""The linter over the whole tree and the type checker over the domain and the rules, as part of the one
test command (so CI and a newcomer run them the same way). Configuration: pyproject.toml."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_finds_nothing():
    done = run("ruff", "check", "--no-cache", ".")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_mypy_finds_nothing_in_the_domain_and_the_rules():
    done = run("mypy", "--cache-dir", str(ROOT / ".mypy_cache"), "cds_service/domain", "cds_service/rules",
               "cds_service/cards/words.py", "cds_service/cards/problems.py")  # the card words, typed as they come
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
