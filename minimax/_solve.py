"""The driver: run a solver on a game in one compiled loop."""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Int, PRNGKeyArray, PyTree

from ._game import AbstractGame, Players, check_players
from ._solver import AbstractSolver


class RESULTS(eqx.Enumeration):
    """Why a run ended: `successful`, or `nonfinite` (a step produced NaN or inf)."""

    successful = ""
    nonfinite = (
        "A step produced non-finite values (NaN or inf); the run stopped at the last finite "
        "players and solver state. Lower the learning rate or check the game's losses."
    )


class Solution(eqx.Module):
    """The outcome of [`minimax.solve`][].

    **Fields:**

    - `players`: the final `(x, y)`; after a non-finite step, the last finite ones.
    - `trajectory`: `(xs, ys)`, every array leaf stacked on a new leading axis: the players at the
      steps in `ts` (the start included when recording), or only the final players when
      `save_every=None`.
    - `ts`: the step index of each row of `trajectory`.
    - `state`: the solver state after the last step taken; pass it back to `solve` to continue.
    - `result`: a [`minimax.RESULTS`][] value.
    - `stats`: `{"steps": steps taken, "nonfinite_step": the step that went non-finite or -1}`.
    """

    players: Players
    trajectory: Players
    ts: Int[Array, " saves"]
    state: PyTree
    result: RESULTS
    stats: dict[str, Array]


def _all_finite(tree) -> Bool[Array, ""]:
    flags = [jnp.isfinite(x).ravel() for x in jax.tree.leaves(tree) if eqx.is_inexact_array(x)]
    if not flags:
        return jnp.array(True)
    # One reduction over all leaves, not one per leaf: XLA:CPU runs each reduction as up to three
    # kernels, and on small games kernel launches, not arithmetic, set the cost of a step (this
    # runs after every block, and after every step of short runs). The barrier stops XLA from
    # splitting the reduction back up per leaf.
    return jax.lax.optimization_barrier(jnp.concatenate(flags)).all()


def _check_state(state, expected) -> None:
    """A state to resume from must be one this solver makes for these players."""

    def describe(tree):
        return [(jnp.shape(x), jnp.result_type(x)) for x in jax.tree.leaves(tree)]

    if jax.tree.structure(state) != jax.tree.structure(expected):
        raise ValueError(
            "`state` was not made by this solver for these players (its structure differs from "
            "`solver.init(game, players)`); pass the `sol.state` of a run with the same solver."
        )
    for (shape, dtype), (want_shape, want_dtype) in zip(
        describe(state), describe(expected), strict=True
    ):
        if shape != want_shape or dtype != want_dtype:
            raise ValueError(
                f"`state` holds an array of shape {shape} and dtype {dtype} where this solver "
                f"and these players need {want_shape} {want_dtype}; pass the `sol.state` of a "
                "run with the same solver and players of the same shapes and dtypes."
            )


def _select(pred, on_true, on_false):
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


_BLOCK = 64  # steps between finiteness checks on long runs
_RUNNING, _PENDING = -1, -2  # `bad` before any failure, and while a failed block awaits replay


@eqx.filter_jit
def _solve(game, solver, players, state, args, key, steps, save_every) -> Solution:
    arrays, static = eqx.partition(players, eqx.is_array)
    if state is None:
        state = solver.init(game, players, args, key)

    def advance(arrays, state):
        step_key = None if key is None else jax.random.fold_in(key, state.step)
        new_players, new_state = solver.step(
            game, eqx.combine(arrays, static), state, args, step_key
        )
        return eqx.filter(new_players, eqx.is_array), new_state

    def checked_step(carry, _):
        arrays, state, bad = carry
        new = advance(arrays, state)
        ok = (bad == _RUNNING) & _all_finite(new)
        # Freeze at the last finite point: the run never hands back corrupted players or state.
        bad = jnp.where((bad == _RUNNING) & ~ok, state.step + 1, bad)
        return (*_select(ok, new, (arrays, state)), bad), None

    def block(carry, _):
        # A player that is NaN or inf stays so (x + u is never finite again), and so do optimizer
        # accumulators; so one check after a block of unchecked steps tells whether any failed.
        # A failed block is undone and the run waits for the replay below.
        arrays, state, bad = carry
        fast = jax.lax.scan(lambda c, _: (advance(*c), None), (arrays, state), length=_BLOCK)[0]
        fine = (bad == _RUNNING) & _all_finite(fast)
        bad = jnp.where((bad == _RUNNING) & ~fine, _PENDING, bad)
        return (*_select(fine, fast, (arrays, state)), bad), None

    def run(carry, n):
        if n <= _BLOCK:
            return jax.lax.scan(checked_step, carry, length=n)[0] if n else carry
        target = carry[1].step + n
        carry = jax.lax.scan(block, carry, length=n // _BLOCK)[0]
        carry = jax.lax.scan(checked_step, carry, length=n % _BLOCK)[0]

        # Replay from the failed block's start, step by step, to stop at the exact last finite
        # point. Loops rather than conds: under vmap they run only if some member failed.
        def replay(carry):
            def running(c):
                return (c[2] == _RUNNING) & (c[1].step < target)

            restart = (*carry[:2], jnp.array(_RUNNING, jnp.int32))
            return jax.lax.while_loop(running, lambda c: checked_step(c, None)[0], restart)

        return jax.lax.while_loop(lambda c: c[2] == _PENDING, replay, carry)

    def chunk(carry, _):
        carry = run(carry, save_every)
        return carry, carry[0]

    carry = (arrays, state, jnp.array(_RUNNING, jnp.int32))
    start = state.step
    if save_every is None:
        carry = run(carry, steps)
        saved, ts = jax.tree.map(lambda a: a[None], carry[0]), carry[1].step[None]
    else:
        carry, saved = jax.lax.scan(chunk, carry, length=steps // save_every)
        saved = jax.tree.map(lambda a0, a: jnp.concatenate([a0[None], a]), arrays, saved)
        ts = start + save_every * jnp.arange(steps // save_every + 1, dtype=start.dtype)
        carry = run(carry, steps % save_every)
    arrays, state, bad = carry
    return Solution(
        players=eqx.combine(arrays, static),
        trajectory=eqx.combine(saved, static),
        ts=ts,
        state=state,
        result=RESULTS.where(bad < 0, RESULTS.successful, RESULTS.nonfinite),
        stats={"steps": state.step - start, "nonfinite_step": bad},
    )


def solve(
    game: AbstractGame,
    solver: AbstractSolver,
    players: PyTree,  # checked below, with a clearer message than a type checker's
    *,
    steps: int,
    args: Any = None,
    key: PRNGKeyArray | None = None,
    state: PyTree = None,
    save_every: int | None = 1,
    throw: bool = True,
) -> Solution:
    r"""Run `steps` updates of `solver` on `game` from `players = (x0, y0)`.

    The whole run is one compiled `lax.scan`. Calling `solve` again with arrays of the same shapes,
    the same `game` type, the same `solver` object and the same `steps` reuses the compiled code;
    a newly built optimizer is a new closure, and compiles again. To run in chunks (e.g. for a
    progress bar), pass `state=solver.init(game, players)` from the first chunk on, so that every
    chunk has the same signature.

    **Arguments:**

    - `game`: an [`minimax.AbstractGame`][].
    - `solver`: an [`minimax.AbstractSolver`][], e.g. `minimax.Simultaneous(opt)`.
    - `players`: the starting pair `(x0, y0)`; any PyTrees whose array leaves are floating point.
    - `steps`: how many updates to make.
    - `args`: passed to the game's losses at every step.
    - `key`: for stochastic games: step `t` uses `jax.random.fold_in(key, t)`.
    - `state`: a solver state to continue from (`sol.state` of a previous run); the continued run
      is the same as one run of the combined length.
    - `save_every`: record the players every `save_every` steps (start included) in
      `sol.trajectory`; `None` keeps only the final players, for long runs.
    - `throw`: if a step produces NaN or inf, raise an error naming the step (`True`), or return
      the last finite players and state with `sol.result == RESULTS.nonfinite` (`False`).

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
    check_players(players)
    for name, value in (("steps", steps), ("save_every", save_every)):
        if value is None and name == "save_every":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be a positive int, got {value!r}.")
    if state is not None:
        _check_state(state, eqx.filter_eval_shape(solver.init, game, tuple(players), args, key))
    sol = _solve(game, solver, tuple(players), state, args, key, steps, save_every)
    if throw:
        bad = sol.stats["nonfinite_step"]
        if isinstance(bad, jax.core.Tracer):
            sol = eqx.error_if(sol, bad >= 0, RESULTS[RESULTS.nonfinite])  # under the user's jit
        elif bad >= 0:
            raise RuntimeError(
                f"solve: step {int(bad)} produced non-finite values (NaN or inf); the last finite "
                f"players are from step {int(bad) - 1}. Lower the learning rate, or pass "
                "`throw=False` to get them back in `sol.players`."
            )
    return sol
