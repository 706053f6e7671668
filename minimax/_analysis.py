"""Spectral analysis of an update rule: the Jacobian of one full step, memory included."""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Complex, Float, PyTree, Scalar

from ._game import AbstractGame, Players, as_players, split_players
from ._solver import AbstractSolver
from ._state import RunState
from .checks import check_int


class LinearisedRate(eqx.Module):
    """What [`minimax.linearised_rate`][] returns.

    **Fields:**

    - `radius`: the spectral radius per step, $\\rho(M)^{1/k}$ for the Jacobian $M$ of `k` steps:
      below 1 the iteration converges locally, like $\\rho^t$; above 1 it diverges.
    - `eigenvalues`: the eigenvalues of $M$, largest modulus first.
    - `jacobian`: $M$ itself, over the players' and the solver state's floating-point arrays,
      flattened (`jax.flatten_util.ravel_pytree` order: players first).
    """

    radius: Scalar
    eigenvalues: Complex[Array, " d"]
    jacobian: Float[Array, "d d"]


def _arrays(tree: PyTree) -> PyTree:
    return eqx.filter(tree, eqx.is_inexact_array)


def linearised_rate(
    solver: AbstractSolver,
    game: AbstractGame,
    players: Players,
    args: Any = None,
    *,
    state: PyTree = None,
    steps: int = 1,
    warmup: int = 1,
) -> LinearisedRate:
    r"""The local rate of convergence of `solver` on `game` at `players`: the spectral radius of
    the Jacobian of the full step map

    $$(z_t, m_t) \mapsto (z_{t+1}, m_{t+1}),$$

    over the players $z$ *and* the solver's memory $m$ (an optimistic method's previous
    gradient, momentum buffers, Adam's moments, lookahead's slow weights): the memory is what
    makes optimistic gradient converge where gradient descent-ascent spirals out, so a
    Jacobian over the players alone would be wrong. Near a fixed point,
    $|z_t - z^*| \approx C\rho^t$ (up to a polynomial factor at repeated eigenvalues).

    Integer parts of the state (step counters) are held fixed. Composes with `jax.vmap` and
    `jax.jit`: a stability map over (learning rate, beta) is one vmapped call.

    **Arguments:**

    - `solver`, `game`: as in [`minimax.solve`][].
    - `players`: the point, e.g. `game.equilibrium()`.
    - `args`: passed to the game.
    - `state`: the solver state at the point (or a run's `sol.state`); by default
      `solver.init` followed by `warmup`
      steps, so that first-step special cases (the fixed optimistic first step) are behind.
      At an equilibrium these steps do not move the players.
    - `steps`: the Jacobian of `steps` consecutive steps, e.g. lookahead's `sync_period`;
      `radius` is then per step.
    - `warmup`: steps taken from `solver.init` before measuring, when `state` is None.

    **Returns:** a [`minimax.LinearisedRate`][].

    ```python
    >>> import jax.numpy as jnp, optax, minimax as mx
    >>> game = mx.ZeroSumGame(lambda x, y, args: x * y)
    >>> rate = mx.linearised_rate(mx.ExtraGradient(optax.sgd(0.2)), game, (0.0, 0.0))
    >>> print(f"{rate.radius:.6f}")  # sqrt(1 - eta^2 + eta^4)
    0.980612

    ```
    """
    steps = check_int("steps", steps)
    warmup = check_int("warmup", warmup, low=0)
    if isinstance(state, RunState):  # `sol.state`: the solver's part of it
        state = state.solver
    return _rate(solver, game, as_players(players), args, state, steps, warmup)


@eqx.filter_jit
def _rate(solver, game, players, args, state, steps, warmup) -> LinearisedRate:
    if state is None:
        state = solver.init(game, players, args)
        for _ in range(warmup):
            players, state = solver.step(game, players, state, args)
    params, static = split_players(players)
    state_static = eqx.filter(state, eqx.is_inexact_array, inverse=True)
    flat, unravel = ravel_pytree((params, _arrays(state)))

    def one_step(vector, _):
        params, state_arrays = unravel(vector)
        z, s = eqx.combine(params, static), eqx.combine(state_arrays, state_static)
        z, s = solver.step(game, z, s, args)
        return ravel_pytree((split_players(z)[0], _arrays(s)))[0], None

    def step_map(vector):
        # A scan, not a Python loop: the step is compiled once, whatever `steps` is.
        return jax.lax.scan(one_step, vector, length=steps)[0]

    jacobian = jax.jacfwd(step_map)(flat)
    eigenvalues = jnp.linalg.eigvals(jacobian)
    eigenvalues = eigenvalues[jnp.argsort(-jnp.abs(eigenvalues))]
    radius = jnp.abs(eigenvalues[0]) ** (1 / steps)
    return LinearisedRate(radius, eigenvalues, jacobian)
