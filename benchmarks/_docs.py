"""Record a benchmark's result in docs/benchmarks.md, with how and where it was measured."""

import datetime
import os
import platform
import sys
from pathlib import Path

import jax
import optax

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(
                line.split(":", 1)[1].strip() for line in f if line.startswith("model name")
            )
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def record(script: str, title: str, body: str, load: float) -> None:
    """Put `body` under `title` into `docs/benchmarks.md` between `script`'s markers (replacing
    its previous record, or at the end of the page), followed by the command that produced it,
    the date, versions and machine. `load` is the load average when the run started."""
    begin, end = f"<!-- {script}: begin -->", f"<!-- {script}: end -->"
    command = " ".join(["python", f"benchmarks/{script}", *sys.argv[1:]])
    section = "\n".join(
        [
            begin,
            f"## {title}",
            "",
            body,
            "",
            f"- Command: `{command}`",
            f"- Date: {datetime.date.today().isoformat()}",
            f"- Versions: jax {jax.__version__}, optax {optax.__version__}, "
            f"Python {platform.python_version()}",
            f"- Machine: {cpu_name()}, {os.cpu_count()} cores, {jax.default_backend()} backend; "
            f"load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end",
            end,
        ]
    )
    page = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    if begin in page and end in page:
        head, rest = page.split(begin, 1)
        page = head + section + rest.split(end, 1)[1]
    else:
        page = page.rstrip("\n") + "\n\n" + section + "\n"
    DOCS.write_text(page)
    print(f"Recorded in {DOCS}.")
