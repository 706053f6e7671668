"""A tiny host-side progress display: tqdm when it is installed, one plain line otherwise.

Used by `python -m minimax gan`, and by `solve(progress=True)` through a progress meter, which
reports from a `jax.debug.callback` that may report the same position twice or out of order:
`update_to` only ever moves forward.
"""

import abc
import itertools
import sys
import threading
import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Int

from .checks import check_int

_MIN_INTERVAL = 0.1  # seconds between redraws: at most ~10 a second, the final one always drawn


def _now() -> float:
    return time.monotonic()


def _format(value: Any) -> str:
    """A postfix value, short: `0.0123` for floats (NumPy and JAX scalars included)."""
    try:
        number = value.item() if hasattr(value, "item") else value
    except (TypeError, ValueError):  # an array of more than one element: shown as it is
        return str(value)
    if isinstance(number, float):
        return f"{number:.3g}"
    return str(number)


class ProgressBar:
    """Show how far a loop of `total` steps has got.

    Uses `tqdm.auto.tqdm` when tqdm is importable; otherwise writes one line to stderr, redrawn
    in place with `\\r`, such as `solve: 45% 4500/10000 steps [2.1 s] loss=0.31`, and ends it
    with a newline on `close`.

    **Arguments:**

    - `total`: the number of steps, `>= 0`.
    - `desc`: the label in front of the bar.
    - `disable`: show nothing (the calls still work).

    ```python
    >>> from minimax._progress import ProgressBar
    >>> with ProgressBar(100, desc="demo", disable=True) as bar:
    ...     bar.update_to(40, loss=0.5)
    ...     bar.update_to(30)  # late or repeated reports never move it back
    >>> bar.n
    40

    ```
    """

    def __init__(self, total: int, desc: str = "solve", disable: bool = False):
        self.total = check_int("total", total, low=0)
        self.desc = str(desc)
        self.disable = bool(disable)
        self.n = 0
        self._lock = threading.Lock()
        self._closed = False
        self._start = self._last_draw = _now()
        self._postfix = ""
        self._width = 0  # of the last plain line drawn, to blank out what a shorter one leaves
        self._shown = None  # (n, postfix) of the last plain line drawn
        self._tqdm = None
        if self.disable:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self._draw()
        else:
            self._tqdm = tqdm(total=self.total, desc=self.desc, unit="step", mininterval=0.1)

    def update_to(self, n: int, **postfix: Any) -> None:
        """Move to step `max(current, n)` (clipped to `total`) and show `postfix` (name=value)
        after the bar. Redraws at most about 10 times a second; the last position is always
        drawn (by `close` at the latest)."""
        with self._lock:
            if self._closed:
                return
            n = min(max(self.n, int(n)), self.total)
            moved, self.n = n - self.n, n
            if postfix:
                self._postfix = " ".join(f"{k}={_format(v)}" for k, v in postfix.items())
            if self.disable:
                return
            if self._tqdm is not None:
                if postfix:
                    self._tqdm.set_postfix_str(self._postfix, refresh=False)
                self._tqdm.update(moved)  # tqdm throttles its redraws; `close` draws the last
                return
            now, changed = _now(), self._shown != (n, self._postfix)
            if changed and (n == self.total or now - self._last_draw >= _MIN_INTERVAL):
                self._last_draw = now
                self._draw()

    def close(self) -> None:
        """Finish the display (a final redraw and a newline); later calls do nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self.disable:
                return
            if self._tqdm is not None:
                self._tqdm.close()
            else:
                if self._shown != (self.n, self._postfix):
                    self._draw()
                sys.stderr.write("\n")
                sys.stderr.flush()

    def _draw(self) -> None:
        percent = 100 * self.n // self.total if self.total else 100
        line = f"{self.desc}: {percent}% {self.n}/{self.total} steps [{_now() - self._start:.1f} s]"
        if self._postfix:
            line += " " + self._postfix
        padding = " " * max(0, self._width - len(line))
        self._width, self._shown = len(line), (self.n, self._postfix)
        sys.stderr.write("\r" + line + padding)
        sys.stderr.flush()

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class AbstractProgressMeter(eqx.Module):
    """Shows how far a run of [`minimax.solve`][] has got (diffrax's `progress_meter` pattern).

    `solve` calls `state = meter.init(total)` on the host before the compiled run,
    `meter.update(state, done)` from inside it (about 200 times a run, at the end of a block of
    steps; under `vmap`, `done` is the member furthest behind), and `meter.close(state)` after
    it, whatever happens. The state is an array, so that one compiled run serves every call."""

    @abc.abstractmethod
    def init(self, total: int) -> Int[Array, ""]:
        """Open a display for `total` steps (host side); returns the meter's state."""

    @abc.abstractmethod
    def update(self, state: Int[Array, ""], done: Int[Array, "*batch"]) -> None:
        """Show that `done` steps have been taken (inside the compiled run)."""

    @abc.abstractmethod
    def close(self, state: Int[Array, ""]) -> None:
        """Finish the display (host side)."""


class NoProgressMeter(AbstractProgressMeter):
    """Shows nothing: `solve(progress=False)`."""

    def init(self, total):
        return jnp.zeros([], int)

    def update(self, state, done):
        pass

    def close(self, state):
        pass


_BARS: dict[int, ProgressBar] = {}  # the open bars of running solves, by the meter's state
_IDS = itertools.count()


class ProgressMeter(AbstractProgressMeter):
    """A progress bar, `solve(progress=True)`: tqdm when it is installed, one plain line on
    stderr otherwise (see `ProgressBar`).

    **Arguments:** `desc`, the label in front of the bar (default `"solve"`).
    """

    desc: str = eqx.field(default="solve", static=True)

    def init(self, total):
        index = next(_IDS)
        _BARS[index] = ProgressBar(total, desc=self.desc)
        return jnp.asarray(index)

    def update(self, state, done):
        jax.debug.callback(_update, state, done)

    def close(self, state):
        bar = _BARS.pop(int(state), None)
        if bar is not None:
            bar.close()


def _update(state, done) -> None:
    bar = _BARS.get(int(np.asarray(state).ravel()[0]))
    if bar is not None:
        bar.update_to(int(np.asarray(done).min()))
