"""Run the ```python blocks of a Markdown page in order, in one namespace, and check that what
they print is what the page shows: the block's whole-line `# ` comments are its expected output.

Run as a script (`python tests/run_examples.py PAGE`), so the examples see JAX's defaults as a
user does, not the test suite's float64. Prints one line per mismatch; exits 1 if any.
"""

import contextlib
import io
import re
import sys


def check(text: str) -> list[str]:
    namespace = {"__name__": "__main__"}
    problems = []
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    for i, block in enumerate(blocks):
        expected = [line.strip()[2:] for line in block.splitlines() if line.strip()[:2] == "# "]
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, f"<block {i}>", "exec"), namespace)
        printed = [line.strip() for line in out.getvalue().splitlines()]
        if printed != [line.strip() for line in expected]:
            problems.append(f"block {i}: shows {expected}, printed {printed}")
    return problems


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        problems = check(f.read())
    print("\n".join(problems))
    sys.exit(1 if problems else 0)
