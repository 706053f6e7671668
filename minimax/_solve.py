"""The driver: run a solver on a game in one compiled loop."""

import itertools
import os
import warnings
from collections.abc import Callable
from typing import Any

import equinox as eqx
import equinox.internal as eqxi
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Int, PRNGKeyArray, PyTree

from ._game import AbstractGame, Players, as_players
from ._misc import check_callable, check_int
from ._results import RESULTS
from ._solver import AbstractSolver


class RunState(eqx.Module):
    """Where a run stands: what [`minimax.solve`][] needs to continue it exactly.

    **Fields:**

    - `step`: how many steps have been taken since the start of the run (step `t` of a
      stochastic game draws `fold_in(key, t)`).
    - `solver`: the solver's own state (e.g. each player's optax state).
    - `solver_name`: the type of the solver that made it, so that a state is never handed to
      another solver by mistake.
    """

    step: Int[Array, ""]
    solver: PyTree
    solver_name: str = eqx.field(static=True)


def initial_state(
    game: AbstractGame,
    solver: AbstractSolver,
    players: Players,
    args: Any = None,
    key: PRNGKeyArray | None = None,
) -> RunState:
    """The state a run of `solver` from `players` starts in (step 0)."""
    return RunState(
        jnp.zeros([], jnp.int32),
        solver.init(game, players, args, key),
        type(solver).__qualname__,
    )


_initial_state = eqx.filter_jit(initial_state)


class Solution(eqx.Module):
    """The outcome of [`minimax.solve`][].

    **Fields:**

    - `players`: the final `(x, y)`; after a failed step, the last good ones.
    - `trajectory`: what was recorded every `save_every` steps (the players, or what `save`
      returns), every array leaf stacked on a new leading axis. Row `i` was recorded at step
      `ts[i]`: the start, every multiple of `save_every`, and always the final step (so the last
      recorded row is `players`). A run that stopped early leaves the rows it never reached
      labelled `ts == -1`; they repeat the final row. With `save_every=None`, only the final row.
    - `ts`: the step of each row of `trajectory`, `-1` for rows never reached.
    - `state`: a [`minimax.RunState`][]; pass it back to `solve` (with `players`) to continue.
    - `result`: a [`minimax.RESULTS`][] value.
    - `stats`: `{"steps": steps taken by this call, "failed_step": the step that failed (0 for a
      non-finite start) or -1}`.
    """

    players: Players
    trajectory: PyTree
    ts: Int[Array, " rows"]
    state: RunState
    result: RESULTS
    stats: dict[str, Array]


def _row(players: Players, save: Callable | None, args: Any) -> PyTree:
    """What a recorded row holds: the players' arrays, or the arrays of `save(players, args)`."""
    return eqx.filter(players if save is None else save(players, args), eqx.is_array)


def _all_finite(tree) -> Bool[Array, ""]:
    flags = [jnp.isfinite(x).ravel() for x in jax.tree.leaves(tree) if eqx.is_inexact_array(x)]
    if not flags:
        return jnp.array(True)
    # One reduction over all leaves, not one per leaf: XLA:CPU runs each reduction as up to three
    # kernels, and on small games kernel launches, not arithmetic, set the cost of a step. The
    # barrier stops XLA from splitting the reduction back up per leaf.
    return jax.lax.optimization_barrier(jnp.concatenate(flags)).all()


def _select(pred, on_true, on_false):
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def _loop(cond, body, carry, max_steps: int, **kwargs):
    # Checkpointed: reverse-mode differentiable with memory that grows like the number of
    # checkpoints, not of steps, and still a plain while loop (early exit) when not differentiated.
    if max_steps == 0:
        return carry
    return eqxi.while_loop(cond, body, carry, max_steps=max_steps, kind="checkpointed", **kwargs)


_BLOCK = 64  # steps between finiteness checks on long runs
_PROGRESS: dict[int, Any] = {}  # progress bars of running solves, by id
_PROGRESS_IDS = itertools.count()


def _report_progress(info, step, done) -> None:
    """Host side of `progress=True`: `info = (id, start step, target step)`."""
    from ._progress import ProgressBar

    info, step, done = np.asarray(info), np.asarray(step), np.asarray(done)
    bar_id, start, target = (int(v) for v in info.reshape(-1, 3)[0])
    bar = _PROGRESS.get(bar_id)
    if bar is None:
        bar = _PROGRESS[bar_id] = ProgressBar(target - start, desc="solve")
    bar.update_to(int(step.min()) - start)  # under vmap: the member furthest behind
    if bool(done.all()):
        bar.close()
        _PROGRESS.pop(bar_id, None)


@eqx.filter_jit
def _solve(game, solver, players, state, args, key, progress, steps, save_every, save) -> Solution:
    arrays, static = eqx.partition(players, eqx.is_array)
    start = state.step
    ok_start = _all_finite((arrays, state.solver))
    successful = RESULTS.successful

    # The carry: (player arrays, solver state, step, result, a block awaiting replay).
    def advance(arrays, sstate, step):
        step_key = None if key is None else jax.random.fold_in(key, step)
        new, sstate = solver.step(game, eqx.combine(arrays, static), sstate, args, step_key)
        return eqx.filter(new, eqx.is_array), sstate

    def running(c):
        return c[3] == successful

    # Progress: about 200 reports a run, at the end of a block or a segment.
    every = _BLOCK * max(1, steps // (200 * _BLOCK))

    def tick(c, n=_BLOCK):
        if progress is not None:
            report = lambda: jax.debug.callback(_report_progress, progress, c[2], False)  # noqa: E731
            jax.lax.cond((c[2] - start) % every < n, report, lambda: None)
        return c

    def checked(c):
        arrays, sstate, step, result, pending = c
        new_arrays, new_sstate = advance(arrays, sstate, step)
        verdict = RESULTS.where(
            _all_finite((new_arrays, new_sstate)), solver.result(new_sstate), RESULTS.nonfinite
        )
        ok = running(c) & (verdict == successful)
        # A failed step is not taken: the run never hands back corrupted players or state.
        arrays, sstate, step = _select(ok, (new_arrays, new_sstate, step + 1), c[:3])
        return arrays, sstate, step, RESULTS.where(running(c), verdict, result), pending

    def block(c):
        # Non-finite values are sticky (x + u is never finite again, nor are optimizer
        # accumulators) and a solver's failure is remembered across the block, so one check
        # after a block of unchecked steps tells whether any step in it failed. A failed block is
        # undone and replayed step by step, to stop at the exact last good point.
        def body(carry, _):
            arrays, sstate, step, failed = carry
            arrays, sstate = advance(arrays, sstate, step)
            return (arrays, sstate, step + 1, failed | (solver.result(sstate) != successful)), None

        inner = (*c[:3], jnp.array(False))
        arrays, sstate, step, failed = jax.lax.scan(body, inner, length=_BLOCK, unroll=2)[0]
        fine = ~failed & _all_finite((arrays, sstate))
        c = (*_select(fine, (arrays, sstate, step), c[:3]), c[3], ~fine)
        return tick(c)

    def stepwise(c, end, max_steps):
        c = (*c[:4], jnp.array(False))
        return _loop(lambda c: running(c) & (c[2] < end), checked, c, max_steps)

    def segment(c, n: int):
        """Up to `n` more steps; fewer if one fails."""
        end = c[2] + n
        if n <= _BLOCK:
            return tick(stepwise(c, end, n), n)

        def blocks_then_steps(c):
            more = lambda c: running(c) & ~c[4] & (c[2] + _BLOCK <= end)  # noqa: E731
            c = _loop(more, block, c, n // _BLOCK)
            # A failed block's replay, or the last steps that do not fill a block.
            return stepwise(c, jnp.minimum(c[2] + _BLOCK, end), _BLOCK)

        # Once, unless a replay finds no failure (non-finite values that were not sticky).
        return _loop(lambda c: running(c) & (c[2] < end), blocks_then_steps, c, n // _BLOCK + 1)

    result = RESULTS.where(ok_start, successful, RESULTS.nonfinite_start)
    carry = (arrays, state.solver, start, result, jnp.array(False))

    def record(c):
        return _row(eqx.combine(c[0], static), save, args)

    if save_every is None:
        carry = segment(carry, steps)
        rows, ts = jax.tree.map(lambda a: a[None], record(carry)), carry[2][None]
    else:
        full, rest = divmod(steps, save_every)
        n_rows = full + 1 + (rest > 0)
        first = record(carry)
        rows = jax.tree.map(lambda a: jnp.zeros((n_rows, *a.shape), a.dtype).at[0].set(a), first)
        ts = jnp.full(n_rows, -1, start.dtype).at[0].set(start)

        def save_row(loop):
            c, rows, ts, i = loop
            c = segment(c, save_every)
            rows = jax.tree.map(lambda a, buf: buf.at[i + 1].set(a), record(c), rows)
            ts = ts.at[i + 1].set(jnp.where(running(c), c[2], -1))
            return c, rows, ts, i + 1

        carry, rows, ts, _ = _loop(
            lambda loop: running(loop[0]) & (loop[3] < full),
            save_row,
            (carry, rows, ts, jnp.array(0, jnp.int32)),
            full,
            buffers=lambda loop: (loop[1], loop[2]),
        )
        if rest:
            carry = segment(carry, rest)
        # The final row: after the last row recorded, unless that row is already the final step.
        n_valid = jnp.sum(ts >= 0)
        final = jnp.where(ts[n_valid - 1] == carry[2], n_valid - 1, n_valid)
        index = jnp.arange(n_rows)
        rows = jax.tree.map(
            lambda buf, a: jnp.where((index >= final).reshape(-1, *[1] * a.ndim), a, buf),
            rows,
            record(carry),
        )
        ts = jnp.where(index < final, ts, jnp.where(index == final, carry[2], -1))

    arrays, sstate, step, result, _ = carry
    if progress is not None:
        done = (step >= progress[2]) | (result != successful)
        jax.debug.callback(_report_progress, progress, step, done)
    failed = jnp.where(result == successful, -1, jnp.where(ok_start, step + 1, 0))
    return Solution(
        players=eqx.combine(arrays, static),
        trajectory=rows if save is not None else eqx.combine(rows, static),
        ts=ts,
        state=RunState(step, sstate, state.solver_name),
        result=result,
        stats={"steps": step - start, "failed_step": failed},
    )


def _check_state(state: Any, expected: RunState) -> None:
    """A state to resume from must be one this solver makes for these players."""
    if not isinstance(state, RunState):
        raise TypeError(
            f"`state` must be the `sol.state` of an earlier run (a minimax.RunState), got "
            f"{type(state).__name__}."
        )
    if state.solver_name != expected.solver_name:
        raise ValueError(
            f"`state` was made by a {state.solver_name} solver, but `solver` is a "
            f"{expected.solver_name}; resume a run with the solver that made it."
        )
    if jax.tree.structure(state) != jax.tree.structure(expected):
        raise ValueError(
            "`state` was not made by this solver for these players (its structure differs from "
            "a fresh run's); pass the `sol.state` of a run with the same solver and players."
        )
    paths = jax.tree_util.tree_flatten_with_path(state)[0]
    for (path, leaf), want in zip(paths, jax.tree.leaves(expected), strict=True):
        got = (jnp.shape(leaf), jnp.result_type(leaf))
        if got != (want.shape, want.dtype):
            raise ValueError(
                f"`state{jax.tree_util.keystr(path)}` has shape {got[0]} and dtype {got[1]} "
                f"where this solver and these players need {want.shape} {want.dtype}; pass the "
                "`sol.state` of a run with the same solver and players of the same shapes and "
                "dtypes."
            )


def _memory_limit() -> int | None:
    """Bytes the default device can hold: its own limit, or the host's available memory."""
    try:
        stats = jax.devices()[0].memory_stats() or {}
    except Exception:
        stats = {}
    if "bytes_limit" in stats:
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


_WARN_BYTES = 2**30


def _check_memory(row: PyTree, n_rows: int, save_every: int) -> None:
    """Refuse a trajectory that cannot fit, and warn about a large one, before compiling."""
    row_bytes = sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(row))
    total = n_rows * row_bytes
    limit = _memory_limit()
    advice = (
        f"{n_rows} rows of {row_bytes:,} bytes (save_every={save_every}). Record less often "
        "(a larger `save_every`), record a few numbers per row (`save=`), or keep only the final "
        "players (`save_every=None`)."
    )
    if limit is not None and total > limit:
        raise ValueError(
            f"The trajectory would need {total:,} bytes, more than the {limit:,} bytes this "
            f"device has free: {advice}"
        )
    if total > _WARN_BYTES:
        warnings.warn(f"The trajectory will take {total:,} bytes: {advice}", stacklevel=3)


def _raise_failure(failed, result) -> None:
    """Host side of `throw=True` for a traced run: raise naming the step."""
    failed, result = np.asarray(failed).ravel(), np.asarray(result).ravel()
    for step, index in zip(failed, np.broadcast_to(result, failed.shape), strict=True):
        if step >= 0:
            raise RuntimeError(_failure_message(int(step), int(index)))


def _failure_message(step: int, index: int) -> str:
    why = RESULTS._index_to_message[index]
    if step == 0:
        return f"solve: {why} Pass finite players (and state)."
    return (
        f"solve: step {step} failed: {why} The last good players are from step {step - 1}; "
        "pass `throw=False` to get them back in `sol.players`."
    )


def solve(
    game: AbstractGame,
    solver: AbstractSolver,
    players: PyTree,  # checked below, with a clearer message than a type checker's
    *,
    steps: int | np.integer,
    args: Any = None,
    key: PRNGKeyArray | None = None,
    state: RunState | None = None,
    save_every: int | np.integer | None = 1,
    save: Callable[[Players, Any], PyTree] | None = None,
    throw: bool = True,
    progress: bool = False,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | np.integer | None = None,
) -> Solution:
    r"""Run `steps` updates of `solver` on `game` from `players = (x0, y0)`.

    The run is one compiled loop. It stops early when a step fails (NaN or inf, or a failure the
    solver reports): a diverged run costs time in proportion to where it failed, under `vmap`
    once every member has stopped. It is reverse-mode differentiable for any `steps` and
    `save_every` (e.g. `jax.grad` with respect to the players, `args` or a traced learning
    rate), with memory that grows with the number of checkpoints of its loops, not with the
    steps. Hyperparameters may be traced: `jax.vmap` over learning rates is one compiled run.

    Calling `solve` again with arrays of the same shapes, the same `game` type, the same `solver`
    object and the same `steps` reuses the compiled code; a newly built optimizer is a new
    closure, and compiles again.

    **Arguments:**

    - `game`: an [`minimax.AbstractGame`][].
    - `solver`: an [`minimax.AbstractSolver`][], e.g. `minimax.Simultaneous(opt)`.
    - `players`: the starting pair `(x0, y0)`; any PyTrees whose array leaves are floating point
      (a bare Python number is taken as a float array).
    - `steps`: how many updates to make.
    - `args`: passed to the game's losses at every step.
    - `key`: for stochastic games: step `t` uses `jax.random.fold_in(key, t)`.
    - `state`: `sol.state` of an earlier run, with `players=sol.players`, to continue it: the
      continued run is the same, bit for bit, as one run of the combined length.
    - `save_every`: record a row every `save_every` steps, the start and the final step included
      (see [`minimax.Solution`][]); `None` keeps only the final players. A recording that would
      not fit in memory is refused before compiling, and one over 1 GiB gives a warning.
    - `save`: what a row holds: `save(players, args)` returns any PyTree of arrays (losses, a
      discriminator's gap, a distance); default the players themselves. Recording a few
      numbers every `k` steps is how to watch a long run without storing its trajectory.
    - `throw`: if a step fails, raise an error naming the step (`True`), or return the last good
      players and state with `sol.result` saying why (`False`).
    - `progress`: show a progress bar (tqdm when installed, a plain line otherwise), updated from
      inside the compiled loop.
    - `checkpoint`, `checkpoint_every`: a file to save the run to every `checkpoint_every` steps
      (see [`minimax.save_checkpoint`][]). If the file exists, the run resumes from it: a
      killed process, run again with the same call, finishes with the same players, bit for
      bit, as one uninterrupted run.

    **Returns:** a [`minimax.Solution`][].

    ```python
    >>> import jax.numpy as jnp, minimax as mx
    >>> game = mx.ZeroSumGame(lambda x, y, args: x * y)
    >>> solver = mx.Simultaneous(mx.optimistic_gradient(0.2))
    >>> sol = mx.solve(game, solver, (jnp.array(1.0), jnp.array(1.0)), steps=500)
    >>> print(sol.trajectory[0].shape, float(abs(sol.players[0])) < 1e-3)
    (501,) True

    ```
    """
    if not isinstance(game, AbstractGame):
        raise TypeError(f"`game` must be a minimax.AbstractGame, got {type(game).__name__}.")
    if not isinstance(solver, AbstractSolver):
        raise TypeError(f"`solver` must be a minimax.AbstractSolver, got {type(solver).__name__}.")
    players = as_players(players)
    steps = check_int("steps", steps)
    if save_every is not None:
        save_every = check_int("save_every", save_every)
    if save is not None:
        check_callable("save", save)
    if state is not None:
        _check_state(state, eqx.filter_eval_shape(initial_state, game, solver, players, args, key))
    if save_every is not None:
        full, rest = divmod(steps, save_every)
        row = eqx.filter_eval_shape(_row, players, save, args)
        _check_memory(row, full + 1 + (rest > 0), save_every)
    if state is None:  # compiled apart, so that a fresh and a resumed run share `_solve`
        state = _initial_state(game, solver, players, args, key)
    info = None
    if progress:
        info = jnp.stack([jnp.asarray(next(_PROGRESS_IDS)), state.step, state.step + steps])
        info = info.astype(int)
    if checkpoint is not None:
        return _run_with_checkpoints(
            game, solver, players, state, args, key, steps, save_every, save, throw, info,
            checkpoint, checkpoint_every,
        )  # fmt: skip
    if checkpoint_every is not None:
        raise ValueError("`checkpoint_every` needs `checkpoint`, the file to save to.")
    sol = _solve(game, solver, players, state, args, key, info, steps, save_every, save)
    if throw:
        _throw(sol)
    return sol


def _throw(sol: Solution) -> None:
    failed = sol.stats["failed_step"]
    if isinstance(failed, jax.core.Tracer):  # under the user's jit or vmap: raise when it runs
        jax.debug.callback(_raise_failure, failed, sol.result._value)
    elif (np.asarray(failed) >= 0).any():
        _raise_failure(failed, sol.result._value)


def _run_with_checkpoints(
    game, solver, players, state, args, key, steps, save_every, save, throw, info, path, every
) -> Solution:
    """`solve` in chunks of `every` steps, saving after each; resumes from `path` if it exists.

    Chunks start at multiples of `every` from the start, so a killed run, run again, computes
    exactly what one uninterrupted run computes. Each save appends the rows recorded since the
    last one to the checkpoint's rows file; the file records the run's fingerprint, so that
    another run's file is refused."""
    from ._checkpoint import (
        as_template,
        prepare_checkpoint,
        read_checkpoint,
        run_fingerprint,
        write_checkpoint,
    )

    if every is None:
        raise ValueError("`checkpoint` needs `checkpoint_every`: how many steps between saves.")
    every = check_int("checkpoint_every", every)
    if save_every is not None and every % save_every:
        raise ValueError(
            f"`checkpoint_every` ({every}) must be a multiple of `save_every` ({save_every}), so "
            "that the rows recorded are the same however often the run is resumed."
        )
    # Before any computing: refuse traced values, and a folder that cannot be written.
    fingerprint = run_fingerprint(
        game, solver, players, args, key, steps, save_every, save, state=state
    )
    path = prepare_checkpoint(path)
    start = int(state.step)
    target = start + steps
    _, static = eqx.partition(players, eqx.is_array)

    full, rest = divmod(steps, save_every or steps)
    n_rows = full + 1 + (rest > 0) if save_every else 1
    # NumPy templates of what JAX makes of the rows (NumPy float64 is float32 when x64 is off).
    row_like = jax.tree.map(
        lambda a: np.zeros(a.shape, a.dtype), eqx.filter_eval_shape(_row, players, save, args)
    )
    rows = jax.tree.map(lambda a: np.zeros((n_rows, *a.shape), a.dtype), row_like)
    ts = np.full(n_rows, -1, np.asarray(state.step).dtype)
    saved = 0  # rows in the file
    if os.path.exists(path):
        like = {"players": as_template(players), "state": state}
        if save_every is not None:
            like |= {"trajectory": row_like, "ts": ts[0]}
        entries = read_checkpoint(
            path, like, hints={"players": "players", "state": "solver"}, fingerprint=fingerprint
        )
        players, state = entries["players"], entries["state"]
        if save_every is not None:
            saved = len(entries["ts"])
            for buf, a in zip(
                jax.tree.leaves(rows), jax.tree.leaves(entries["trajectory"]), strict=True
            ):
                buf[:saved] = a
            ts[:saved] = entries["ts"]
            del entries  # the rows are in `rows` now
    else:
        for buf, a in zip(
            jax.tree.leaves(rows), jax.tree.leaves(_row(players, save, args)), strict=True
        ):
            buf[0] = a
        ts[0] = start
    n_valid = max(saved, 1)
    result, failed = RESULTS.successful, jnp.array(-1)
    while int(state.step) < target and result == RESULTS.successful:
        sol = _solve(
            game, solver, players, state, args, key, info, min(every, target - int(state.step)),
            save_every, save,
        )  # fmt: skip
        players, state, result, failed = (
            sol.players,
            sol.state,
            sol.result,
            sol.stats["failed_step"],
        )
        new_rows = None
        if save_every is not None:  # the chunk's rows after its first, which is already kept
            m = int((np.asarray(sol.ts) >= 0).sum()) - 1
            for buf, new in zip(
                jax.tree.leaves(rows), jax.tree.leaves(sol.trajectory), strict=True
            ):
                buf[n_valid : n_valid + m] = np.asarray(new)[1 : m + 1]
            ts[n_valid : n_valid + m] = np.asarray(sol.ts)[1 : m + 1]
            n_valid += m
            new = slice(saved, n_valid)
            new_rows = {"trajectory": jax.tree.map(lambda b, new=new: b[new], rows), "ts": ts[new]}
        write_checkpoint(
            path,
            {"players": players, "state": state},
            fingerprint=fingerprint,
            rows=new_rows,
            append=new_rows is not None and saved > 0,
        )
        saved = n_valid if new_rows is not None else 0
    if save_every is None:
        rows = jax.tree.map(lambda a: np.array(a)[None], _row(players, save, args))
        ts[0] = int(state.step)
    # Rows never reached repeat the final row, as in one run.
    last = jax.tree.map(np.asarray, _row(players, save, args))
    for buf, a in zip(jax.tree.leaves(rows), jax.tree.leaves(last), strict=True):
        buf[n_valid:] = a
    trajectory = jax.tree.map(jnp.asarray, rows)
    sol = Solution(
        players=players,
        trajectory=trajectory if save is not None else eqx.combine(trajectory, static),
        ts=jnp.asarray(ts),
        state=state,
        result=result,
        stats={"steps": state.step - start, "failed_step": failed},
    )
    if throw:
        _throw(sol)
    return sol
