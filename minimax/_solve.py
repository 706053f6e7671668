"""The driver: run a solver on a game in one compiled loop."""

import contextlib
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
from ._progress import AbstractProgressMeter, NoProgressMeter, ProgressMeter
from ._results import RESULTS
from ._solver import AbstractSolver, AbstractWrapper
from ._state import RunState, initial_state
from .checks import check_callable, check_int

# Steps between finiteness checks (and progress reports): long, since each block is an iteration
# of an outer loop, which costs far more than a step of a small game.
_BLOCK = 1024
_CHECK = 64  # steps between `stop` and the solver's `terminate`, at absolute multiples
# Calls this long also compile a fixed-length loop for whole blocks (see `_Run._steps`): it
# saves ~15 ns a step, against ~0.1-1 s to compile the step a second time.
_WHOLE_FROM = 2**16
_initial_state = eqx.filter_jit(initial_state)
try:  # private: see `_untransformed`
    from jax._src.core import trace_state_clean as _trace_state_clean
except ImportError:
    _trace_state_clean = None


class Solution(eqx.Module):
    """The outcome of [`minimax.solve`][].

    **Fields:**

    - `players`: the final live iterate `(x, y)`, what a resumed run continues from; after a
      failed step, the last good one.
    - `answer`: what the solver answers there (an average, lookahead's slow weights, a restart
      candidate: see the solver's `answer`); the same as `players` for plain solvers.
    - `trajectory`: what was recorded every `save_every` steps (the answer, or what `save`
      returns), every array leaf stacked on a new leading axis. Row `i` was recorded at step
      `ts[i]`: the start, every multiple of `save_every`, and always the final step (so the last
      recorded row is `answer`). A run that stopped early leaves the rows it never reached
      labelled `ts == -1`; they repeat the final row. With `save_every=None`, only the final row.
    - `ts`: the step of each row of `trajectory`, `-1` for rows never reached.
    - `state`: a [`minimax.RunState`][]; pass it back to `solve` (with `players`) to continue.
    - `result`: a [`minimax.RESULTS`][] value.
    - `stats`: `{"steps": steps taken by this call, "failed_step": the step that failed (0 for a
      non-finite start) or -1}`, and what the solver's steps report, summed over the call
      (e.g. `"restarts"`, `"linear_solve_steps"`).
    - `model_state` (a property): the game's final model state, `state.model_state`.
    """

    players: Players
    answer: Players
    trajectory: PyTree
    ts: Int[Array, " rows"]
    state: RunState
    result: RESULTS
    stats: dict[str, Array]

    @property
    def model_state(self) -> PyTree:
        return self.state.model_state


def _row(solver, game, players, state, save, args) -> PyTree:
    """What a recorded row holds: the answer's arrays, or the arrays of `save(answer, args)`."""
    answer = solver.answer(game, players, state, args)
    if save is None:
        return eqx.filter(answer, eqx.is_array)
    out = save(answer, args)
    # Numbers (a Python float, a NumPy scalar) are recorded as arrays; nothing to record is an
    # error, not an empty trajectory.
    out = jax.tree.map(
        lambda v: jnp.asarray(v) if isinstance(v, int | float | np.number) else v, out
    )
    if not jax.tree.leaves(eqx.filter(out, eqx.is_array)):
        raise TypeError(
            f"`save` must return a PyTree of arrays or numbers to record, got {out!r}: e.g. "
            "`lambda players, args: {'distance': ...}`."
        )
    return eqx.filter(out, eqx.is_array)


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


class _Loop(eqx.Module):
    """The driver's loop state."""

    arrays: Players  # the players' array leaves; the rest is `_Run.static`
    solver: PyTree
    model_state: PyTree
    step: Int[Array, ""]
    result: RESULTS
    stats: dict[str, Array]  # summed over the steps of this call
    done: Bool[Array, ""]  # the solver's `terminate` or `stop` ended the run
    replay: Int[Array, ""]  # steps still to take one at a time, after a block that failed

    def running(self) -> Bool[Array, ""]:
        return (self.result == RESULTS.successful) & ~self.done


class _Run(eqx.Module):
    """What one call of `solve` runs: the loops are its methods.

    Every step of a run, whichever loop calls for it, goes through the one `steps` loop below:
    its body is the only copy of the solver's step in the compiled program, so a run split
    anywhere (a resume, checkpoint chunks, another `save_every`) computes the same bits."""

    game: AbstractGame
    solver: AbstractSolver
    static: Players
    args: Any
    key: Any
    save: Any
    stop: Any
    meter: AbstractProgressMeter
    meter_state: Any  # the meter's state, and the step its count starts from
    every: int = eqx.field(static=True)  # steps between progress reports
    whole_blocks: bool = eqx.field(static=True)  # whether to run whole blocks apart

    def players(self, loop: _Loop) -> Players:
        return eqx.combine(loop.arrays, self.static)

    def record(self, loop: _Loop) -> PyTree:
        return _row(self.solver, self.game, self.players(loop), loop.solver, self.save, self.args)

    def steps(self, loop: _Loop, n: Int[Array, ""]) -> _Loop:
        """Up to `n` steps, unchecked but for the failures the solver reports. A block that
        fails is discarded: its derivative is zero, not the `0 * inf` of differentiating
        through the NaN it made (see `_discardable`)."""
        return _discardable(_Run._steps)(self, loop, n)

    def _steps(self, loop: _Loop, n: Int[Array, ""]) -> _Loop:
        end = loop.step + n

        def step(c: _Loop) -> _Loop:
            key = None if self.key is None else jax.random.fold_in(self.key, c.step)
            out = self.solver.step(
                self.game, self.players(c), c.solver, self.args, key, model_state=c.model_state
            )
            stats = jax.tree.map(lambda a, b: a + b, c.stats, out.stats)
            arrays = eqx.filter(out.players, eqx.is_array)
            # The solver's verdict only where it failed: a success the solver reports as a
            # constant then leaves the loop's result untouched, not copied every step.
            result = RESULTS.where(out.result == RESULTS.successful, c.result, out.result)
            c = _Loop(
                arrays, out.state, out.model_state, c.step + 1, result, stats, c.done, c.replay
            )
            return self.check(c) if self.can_finish else c

        some = lambda c: _loop(lambda c: c.running() & (c.step < end), step, c, _BLOCK)  # noqa: E731
        if not self.whole_blocks or self.can_finish:
            return some(loop)
        # A whole block, when only a failure could end it early (a failed block is undone and
        # replayed anyway, so it may run on past the failure), runs in a loop whose trip count
        # XLA knows: that spares it the loop condition, about 8% of a small game's step. Its
        # body compiles to the same code as the other loop's (tested: split runs keep the bits).
        whole = lambda c: _loop(lambda c: True, step, c, _BLOCK)  # noqa: E731
        return jax.lax.cond(eqxi.unvmap_all(n == _BLOCK), whole, some, loop)

    def block(self, loop: _Loop, end: Int[Array, ""]) -> _Loop:
        """Steps up to the next multiple of `_BLOCK` (or `end`), then one finiteness check.

        Non-finite values are sticky (`x + u` is never finite again, nor are optimizer
        accumulators; projections keep NaN, see `AbstractGame.project_player`) and the first
        failure a step reports ends the block, so one check after it tells whether any step in
        it failed. A failed block is undone and its steps replayed one block of one step at a
        time, to stop at the exact last good point."""
        replaying = loop.replay > 0
        n = jnp.where(replaying, 1, jnp.minimum(_BLOCK - loop.step % _BLOCK, end - loop.step))
        new = self.steps(loop, n)
        # A run that a solver ended with its verdict (e.g. an infeasible problem) did not fail:
        # its last step holds the proof, and is kept.
        ok = (new.result == RESULTS.successful) | new.done
        fine = ok & _all_finite((new.arrays, new.solver, new.model_state))
        why = RESULTS.where(ok, RESULTS.nonfinite, new.result)
        kept = eqx.tree_at(lambda c: c.replay, new, jnp.maximum(loop.replay - 1, 0))
        undone = eqx.tree_at(
            lambda c: (c.result, c.replay),
            loop,
            (RESULTS.where(replaying, why, loop.result), jnp.where(replaying, 0, n)),
        )
        loop = _select(fine, kept, undone)
        if not isinstance(self.meter, NoProgressMeter):
            meter_state, origin = self.meter_state
            report = lambda: self.meter.update(meter_state, loop.step - origin)  # noqa: E731
            jax.lax.cond(loop.step % self.every < n, report, lambda: None)
        return loop

    @property
    def can_finish(self) -> bool:
        """Whether the run may end before its last step: a `stop`, or a solver that can say it
        is done (a `terminate` of its own, its or a wrapped solver's)."""
        solver = self.solver
        while type(solver).terminate is AbstractWrapper.terminate:
            solver = solver.solver
        return self.stop is not None or type(solver).terminate is not AbstractSolver.terminate

    def check(self, loop: _Loop) -> _Loop:
        """At every multiple of `_CHECK` steps: is the run done (the solver's `terminate`, or
        `stop`)? Only there, so that where a run stops does not depend on how it is split."""

        def finish(c: _Loop) -> _Loop:
            players = self.players(c)
            done, result = self.solver.terminate(self.game, players, c.solver, self.args)
            # A solver's verdict when it is done; `stop` alone ends the run successfully.
            result = RESULTS.where(done, result, RESULTS.successful)
            if self.stop is not None:
                answer = self.solver.answer(self.game, players, c.solver, self.args)
                stop = jnp.asarray(self.stop(answer, self.args))
                if stop.shape != () or stop.dtype != bool:
                    raise TypeError(
                        f"`stop` must return a boolean scalar, got {stop.dtype} of shape "
                        f"{stop.shape}."
                    )
                done = done | stop
            result = RESULTS.where(done, result, c.result)
            return eqx.tree_at(lambda c: (c.done, c.result), c, (done, result))

        due = loop.running() & (loop.step % _CHECK == 0)
        return jax.lax.cond(due, finish, lambda c: c, loop)

    def run(self, loop: _Loop, end: Int[Array, ""], max_steps: int) -> _Loop:
        """Blocks until step `end`, a failure, or the end of the run; at most `max_steps`."""
        more = lambda c: c.running() & (c.step < end)  # noqa: E731
        # Each block takes a step, or undoes a failed block (at most once per replay).
        return _loop(more, lambda c: self.block(c, end), loop, 2 * max_steps + 2)


def _discardable(fn: Callable) -> Callable:
    """`fn` whose reverse-mode derivative is zero wherever its output's cotangent is all zero.

    A failed block's output is discarded by a `where`, which sends it a zero cotangent; the
    plain derivative would still multiply that zero by the infinities inside the failed steps
    and turn a finite gradient into NaN. Forward values, and so a run's bits, are unchanged."""

    def call(*args):
        diff, rest = eqx.partition(args, eqx.is_inexact_array)
        # Closed-over values (a learning rate inside an optimizer) become explicit, so that
        # they are differentiated too.
        closed = eqx.filter_closure_convert(lambda d: fn(*eqx.combine(d, rest)), diff)
        return _zero_safe((closed, diff))

    return call


@eqx.filter_custom_vjp
def _zero_safe(inputs):
    closed, diff = inputs
    return closed(diff)


@_zero_safe.def_fwd
def _zero_safe_fwd(perturbed, inputs):
    out, pull_back = eqx.filter_vjp(lambda inputs: inputs[0](inputs[1]), inputs)
    return out, (pull_back, eqx.filter(out, eqx.is_inexact_array))


@_zero_safe.def_bwd
def _zero_safe_bwd(residuals, cotangent, perturbed, inputs):
    pull_back, out = residuals
    # Outputs that no derivative reached come as None: zeros, as the pull-back needs them.
    cotangent = jax.tree.map(
        lambda o, c: None if o is None else jnp.zeros_like(o) if c is None else c,
        out,
        eqx.filter(cotangent, eqx.is_inexact_array),
        is_leaf=lambda c: c is None,
    )
    leaves = jax.tree.leaves(cotangent)
    nothing = jnp.all(jnp.stack([jnp.all(c == 0) for c in leaves])) if leaves else True
    (grads,) = pull_back(cotangent)
    return jax.tree.map(lambda g: jnp.where(nothing, jnp.zeros_like(g), g), grads)


# XLA:CPU's default schedule maximises the operations that may run at once, and its runtime
# then hands them between cores: on small problems that costs more than it saves. Measured by
# benchmarks/schedule.py on 2 cores: PDHG on Netlib's kb2 1.9x faster a step, a float32 GAN
# within 5%, a float64 GAN 9% slower. Other backends ignore the option; under the caller's
# transformations the caller's compilation decides.
_COMPILER_OPTIONS = {"xla_cpu_scheduler_type": "CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED"}


def _solve(*inputs) -> Solution:
    """The compiled run: see `_run_solve`."""
    return (_solve_top if _untransformed() else _solve_traced)(*inputs)


def _untransformed() -> bool:
    """Whether no transformation (`jit`, `vmap`, `grad`) is tracing the caller. JAX keeps the
    answer private (a traced learning rate hides in an optimizer's closure, so the inputs
    cannot tell): without it, every call counts as transformed."""
    return _trace_state_clean is not None and bool(_trace_state_clean())


def _run_solve(
    game, solver, players, state, args, key, meter, meter_state, origin, steps, save_every, save,
    stop, final,
) -> Solution:  # fmt: skip
    arrays, static = eqx.partition(players, eqx.is_array)
    every = _BLOCK * max(1, steps // (200 * _BLOCK))
    whole_blocks = steps >= _WHOLE_FROM
    run = _Run(
        game, solver, static, args, key, save, stop, meter, (meter_state, origin), every,
        whole_blocks,
    )  # fmt: skip
    start, target = state.step, state.step + steps
    ok_start = _all_finite((arrays, state.solver, state.model_state))
    shapes = eqx.filter_eval_shape(
        lambda: solver.step(game, players, state.solver, args, key, model_state=state.model_state)
    )
    stats = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes.stats)
    result = RESULTS.where(ok_start, RESULTS.successful, RESULTS.nonfinite_start)
    false, zero = jnp.array(False), jnp.zeros([], jnp.int32)
    loop = _Loop(arrays, state.solver, state.model_state, start, result, stats, false, zero)
    if run.can_finish:
        loop = run.check(loop)

    if save_every is None:
        loop = run.run(loop, target, steps)
        rows, ts = jax.tree.map(lambda a: a[None], run.record(loop)), loop.step[None]
    else:
        n_rows = -(-steps // save_every) + 1
        first = run.record(loop)
        rows = jax.tree.map(lambda a: jnp.zeros((n_rows, *a.shape), a.dtype).at[0].set(a), first)
        ts = jnp.full(n_rows, -1, start.dtype).at[0].set(start)

        def segment(carry):
            loop, rows, ts, i = carry
            before = loop.step
            loop = run.run(loop, jnp.minimum(loop.step + save_every, target), save_every)
            i = i + (loop.step > before)  # a segment that took no step records no new row
            rows = jax.tree.map(lambda a, buf: buf.at[i].set(a), run.record(loop), rows)
            return loop, rows, ts.at[i].set(loop.step), i

        loop, rows, ts, last = _loop(
            lambda carry: carry[0].running() & (carry[0].step < target),
            segment,
            (loop, rows, ts, jnp.zeros([], jnp.int32)),
            n_rows - 1,
            buffers=lambda carry: (carry[1], carry[2]),
        )
        # Rows never reached repeat the final row, labelled -1.
        index = jnp.arange(n_rows)
        final_row = run.record(loop)
        rows = jax.tree.map(
            lambda buf, a: jnp.where((index > last).reshape(-1, *[1] * a.ndim), a, buf),
            rows,
            final_row,
        )
        ts = jnp.where(index > last, -1, ts)

    if not isinstance(meter, NoProgressMeter):
        meter.update(meter_state, loop.step - origin)
    players = run.players(loop)
    result = loop.result
    if final:  # a run that took all its steps ends with what the solver says of it
        _, verdict = solver.terminate(game, players, loop.solver, args)
        result = RESULTS.where(loop.running(), verdict, result)
    step_failed = (loop.result != RESULTS.successful) & ~loop.done
    failed = jnp.where(step_failed, jnp.where(ok_start, loop.step + 1, 0), -1)
    return Solution(
        players=players,
        answer=solver.answer(game, players, loop.solver, args),
        trajectory=rows if save is not None else eqx.combine(rows, static),
        ts=ts,
        state=RunState(loop.step, loop.solver, loop.model_state, state.solver_name),
        result=result,
        stats={"steps": loop.step - start, "failed_step": failed, **loop.stats},
    )


_solve_top = eqx.filter_jit(_run_solve, compiler_options=_COMPILER_OPTIONS)
_solve_traced = eqx.filter_jit(_run_solve)


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


def _members(tree: Any) -> int:
    """How many runs one call makes under the caller's `vmap`s: the largest product of batch
    sizes among the traced values reachable from `tree`, functions' closures included (an
    optimizer built inside the mapped function keeps its learning rate there). Read from the
    batching tracers' `val` and `batch_dim`, best effort: 1 where none is found."""
    most, seen, todo = 1, set(), [(tree, 0)]
    while todo:
        obj, depth = todo.pop()
        if id(obj) in seen or depth > 20:
            continue
        seen.add(id(obj))
        for leaf in jax.tree.leaves(obj):
            if isinstance(leaf, jax.core.Tracer):
                count, tracer = 1, leaf
                while isinstance(tracer, jax.core.Tracer) and hasattr(tracer, "batch_dim"):
                    value, axis = getattr(tracer, "val", None), tracer.batch_dim
                    if isinstance(axis, int) and value is not None:
                        count *= jnp.shape(value)[axis]
                    tracer = value
                most = max(most, count)
            elif callable(leaf):
                cells = getattr(leaf, "__closure__", None) or ()
                for cell in cells:
                    with contextlib.suppress(ValueError):  # a cell not filled yet
                        todo.append((cell.cell_contents, depth + 1))
                for inner in (getattr(leaf, "__wrapped__", None), getattr(leaf, "func", None)):
                    if inner is not None:
                        todo.append((inner, depth + 1))
    return most


def _check_memory(row: PyTree, n_rows: int, save_every: int, members: int) -> None:
    """Refuse a trajectory that cannot fit, and warn about a large one, before compiling."""
    row_bytes = sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(row))
    total = n_rows * row_bytes * members
    limit = _memory_limit()
    runs = f" for each of {members} runs under vmap" if members > 1 else ""
    advice = (
        f"{n_rows} rows of {row_bytes:,} bytes{runs} (save_every={save_every}). Record less often "
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


def solve(
    game: AbstractGame,
    solver: AbstractSolver,
    players: PyTree,  # checked below, with a clearer message than a type checker's
    *,
    steps: int | np.integer,
    args: Any = None,
    key: PRNGKeyArray | None = None,
    state: RunState | None = None,
    model_state: PyTree = None,
    save_every: int | np.integer | None = 1,
    save: Callable[[Players, Any], PyTree] | None = None,
    stop: Any = None,  # `(answer, args) -> bool`, checked below with a clearer message
    throw: bool = True,
    progress: bool | AbstractProgressMeter = False,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | np.integer | None = None,
) -> Solution:
    r"""Run `steps` updates of `solver` on `game` from `players = (x0, y0)`.

    The run is one compiled loop. It stops early when a step fails (NaN or inf, or a failure the
    solver reports), when the solver says it is done (its `terminate`: a tolerance met, an
    infeasibility certificate), or when `stop` holds: a diverged or finished run costs time in
    proportion to where it stopped, under `vmap` once every member has stopped. A run split
    anywhere (resumed from `sol.state`, run in checkpointed chunks, recorded with another
    `save_every`, with or without a progress bar, killed and run again) computes the same bits
    as one uninterrupted call on the same machine. It is reverse-mode differentiable for any
    `steps` and `save_every` (e.g. `jax.grad` with respect to the players, `args` or a traced
    learning rate), with memory that grows with the number of checkpoints of its loops, not
    with the steps. Hyperparameters may be traced: `jax.vmap` over learning rates is one
    compiled run.

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
      continued run is the same, bit for bit, as one run of the combined length. It carries
      the model state.
    - `model_state`: the game's model state, for players with stateful layers
      (`eqx.nn.BatchNorm`, `eqx.nn.SpectralNorm`): e.g. the `eqx.nn.State` of
      `eqx.nn.make_with_state`, or any PyTree of buffers that are not trained. The game's
      losses then take `model_state=` and return `((loss0, loss1), new_model_state)`; each
      step threads it (see [`minimax.AbstractSolver`][]) and `sol.model_state` is the last.
    - `save_every`: record a row every `save_every` steps, the start and the final step included
      (see [`minimax.Solution`][]); `None` keeps only the final players. A recording that would
      not fit in memory is refused before compiling, and one over 1 GiB gives a warning.
    - `save`: what a row holds: `save(answer, args)` returns any PyTree of arrays (losses, a
      discriminator's gap, a distance); default the solver's answer itself. Recording a few
      numbers every `k` steps is how to watch a long run without storing its trajectory.
    - `stop`: `stop(answer, args) -> bool`, checked at every multiple of 64 steps (and at the
      start): the run ends `successful` once it holds, `sol.stats["steps"]` the steps taken.
      E.g. `stop=lambda players, args: game.duality_gap(players) < 1e-6`.
    - `throw`: if the run does not end `successful` (a failed step, or a solver's verdict such
      as an infeasible problem), raise an error saying why (`True`), or return with
      `sol.result` saying why (`False`; after a failed step, the last good players and state).
      Under the caller's `jax.jit` or `jax.vmap` nothing is raised: check `sol.result`.
    - `progress`: `True` shows a progress bar (tqdm when installed, a plain line otherwise),
      updated from inside the compiled loop; or give a progress meter (e.g.
      `minimax.ProgressMeter(desc="training")`).
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
    for name, fn in (("save", save), ("stop", stop)):
        if fn is not None:
            check_callable(name, fn)
    meter = _meter(progress)
    if state is None:  # compiled apart, so that a fresh and a resumed run share `_solve`
        state = _initial_state(game, solver, players, args, key, model_state)
    else:
        if model_state is not None:
            raise ValueError(
                "`model_state` and `state` were both given: a run's state carries its model "
                "state (`sol.state.model_state`); pass `state` alone to resume."
            )
        shapes = eqx.filter_eval_shape(
            initial_state, game, solver, players, args, key, getattr(state, "model_state", None)
        )
        _check_state(state, shapes)
    _check_step_count(state, steps)
    if save_every is not None:
        n_rows = -(-steps // save_every) + 1
        row = eqx.filter_eval_shape(_row, solver, game, players, state.solver, save, args)
        _check_memory(row, n_rows, save_every, _members((game, solver, players, state, args, key)))
    if checkpoint is not None:
        return _run_with_checkpoints(
            game, solver, players, state, args, key, steps, save_every, save, stop, throw, meter,
            checkpoint, checkpoint_every,
        )  # fmt: skip
    if checkpoint_every is not None:
        raise ValueError("`checkpoint_every` needs `checkpoint`, the file to save to.")
    meter_state = meter.init(steps)
    try:
        sol = _solve(
            game, solver, players, state, args, key, meter, meter_state, state.step, steps,
            save_every, save, stop, True,
        )  # fmt: skip
    finally:
        meter.close(meter_state)
    return _throw(sol) if throw else sol


def _meter(progress: Any) -> AbstractProgressMeter:
    if isinstance(progress, AbstractProgressMeter):
        return progress
    if isinstance(progress, bool | np.bool_):
        return ProgressMeter() if progress else NoProgressMeter()
    raise TypeError(
        f"`progress` must be a bool or a progress meter (minimax.ProgressMeter), got {progress!r}."
    )


def _check_step_count(state: RunState, steps: int) -> None:
    """The step counter is an int32 unless x64 is on: refuse a run that would overflow it."""
    if isinstance(state.step, jax.core.Tracer):
        return
    limit = int(jnp.iinfo(jnp.asarray(state.step).dtype).max)
    if int(state.step) + steps > limit:
        raise ValueError(
            f"`steps` ({steps}) from step {int(state.step)} would count past {limit}, the "
            f"largest step the counter ({jnp.asarray(state.step).dtype}) holds. Run fewer steps "
            "per call, or start a new run from `sol.players` (a fresh state counts from 0)."
        )


def _message(sol: Solution, index: tuple = ()) -> str:
    """Why member `index` of a (possibly vmapped) run did not end successfully."""
    result = jax.tree.map(lambda v: np.asarray(np.asarray(v)[index]), sol.result)
    failed = int(np.asarray(sol.stats["failed_step"])[index])
    why = RESULTS[result]
    if failed == 0:
        return f"solve: {why} Pass finite players (and state)."
    if failed > 0:
        return (
            f"solve: step {failed} failed: {why} The last good players are from step "
            f"{failed - 1}; pass `throw=False` to get them back in `sol.players`."
        )
    return f"solve: {why} Pass `throw=False` to get the run back in `sol`."


def _throw(sol: Solution) -> Solution:
    """Raise if the run did not end successfully. Under the caller's `jit` or `vmap` the result
    is not known yet: the run is returned, `sol.result` saying how it ended (raising from
    inside a compiled program would lose every member of a sweep for one that diverged)."""
    bad = sol.result != RESULTS.successful
    if isinstance(bad, jax.core.Tracer):
        return sol
    bad = np.asarray(bad)
    if bad.any():
        raise RuntimeError(_message(sol, tuple(np.argwhere(bad)[0])))
    return sol


def _run_with_checkpoints(
    game, solver, players, state, args, key, steps, save_every, save, stop, throw, meter, path,
    every,
) -> Solution:  # fmt: skip
    """`solve` in chunks of `every` steps, saving after each; resumes from `path` if it exists.

    Chunks start at multiples of `every` from the start, and every chunk runs the same compiled
    step, so a killed run, run again, computes exactly what one uninterrupted run computes. Each
    save appends the rows recorded since the last one to the checkpoint's rows file; the file
    records the run's fingerprint, so that another run's file is refused."""
    # Looked up now, not at import: tests patch them.
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
        game, solver, players, args, key, steps, save_every, save, state=state, stop=stop
    )
    path = prepare_checkpoint(path)
    origin = state.step
    start = int(state.step)
    target = start + steps
    _, static = eqx.partition(players, eqx.is_array)

    n_rows = -(-steps // save_every) + 1 if save_every else 1
    # NumPy templates of what JAX makes of the rows (NumPy float64 is float32 when x64 is off).
    row_like = jax.tree.map(
        lambda a: np.zeros(a.shape, a.dtype),
        eqx.filter_eval_shape(_row, solver, game, players, state.solver, save, args),
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
        first = _row(solver, game, players, state.solver, save, args)
        for buf, a in zip(jax.tree.leaves(rows), jax.tree.leaves(first), strict=True):
            buf[0] = a
        ts[0] = start
    n_valid = max(saved, 1)
    sol, done = None, False
    meter_state = meter.init(steps)
    try:
        while int(state.step) < target and not done:
            n = min(every, target - int(state.step))
            sol = _solve(
                game, solver, players, state, args, key, meter, meter_state, origin, n,
                save_every, save, stop, int(state.step) + n == target,
            )  # fmt: skip
            players, state = sol.players, sol.state
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
                new_rows = {
                    "trajectory": jax.tree.map(lambda b, new=new: b[new], rows),
                    "ts": ts[new],
                }
            write_checkpoint(
                path,
                {"players": players, "state": state},
                fingerprint=fingerprint,
                rows=new_rows,
                append=new_rows is not None and saved > 0,
            )
            saved = n_valid if new_rows is not None else 0
            # A failed step, or done (the solver's `terminate`, or `stop`) before the chunk's end.
            done = sol.result != RESULTS.successful or int(sol.stats["steps"]) < n
        if sol is None:  # the file holds a finished run: no step, only its answer
            sol = _solve(
                game, solver, players, state, args, key, meter, meter_state, origin, 0,
                save_every, save, stop, False,
            )  # fmt: skip
    finally:
        meter.close(meter_state)
    if save_every is None:
        rows = jax.tree.map(np.array, eqx.filter(sol.trajectory, eqx.is_array))
        ts[0] = int(state.step)
    # Rows never reached repeat the final row, as in one run.
    for buf in jax.tree.leaves(rows):
        buf[n_valid:] = buf[n_valid - 1]
    trajectory = jax.tree.map(jnp.asarray, rows)
    sol = Solution(
        players=players,
        answer=sol.answer,
        trajectory=trajectory if save is not None else eqx.combine(trajectory, static),
        ts=jnp.asarray(ts),
        state=state,
        result=sol.result,
        stats={**sol.stats, "steps": state.step - start},
    )
    return _throw(sol) if throw else sol
