"""The examples in the README and the docs run, and print what the pages say they print."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [
    "README.md",
    "docs/index.md",
    "docs/getting-started.md",
    "docs/long-runs.md",
    "docs/training.md",
    "docs/digits-gan.md",
    "docs/matrix-games.md",
    "docs/linear-programs.md",
    "docs/constrained-learning.md",
]


@pytest.mark.parametrize("page", PAGES)
def test_examples(page):
    run = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "run_examples.py"), str(ROOT / page)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
