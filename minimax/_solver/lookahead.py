from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Int, PRNGKeyArray, PyTree

from .._game import AbstractGame, Players, split_players
from ..checks import check_int, check_scalar, static_int
from .base import AbstractWrapper, Step


class LookaheadState(eqx.Module):
    """State of [`minimax.Lookahead`][].

    **Fields:**

    - `slow`: the slow weights' trainable arrays.
    - `inner`: the inner solver's state.
    - `count`: fast steps since the last synchronisation, `0` to `sync_period - 1`.
    """

    slow: Players
    inner: PyTree
    count: Int[Array, ""]


class Lookahead(AbstractWrapper[LookaheadState]):
    r"""Lookahead-minmax (Chavdarova et al. 2021): run any solver on *fast* weights, and every
    `sync_period` = $k$ steps pull the *slow* weights part of the way towards them and restart
    the fast weights there, for both players jointly:

    $$\tilde z_{t+1} = \mathrm{step}(\tilde z_t), \qquad
    \text{if } k \mid t + 1:\quad
    z \leftarrow z + \alpha\,(\tilde z_{t+1} - z), \quad \tilde z_{t+1} \leftarrow z,$$

    with $\alpha$ = `slow_step_size`. The fast weights are the live iterate (`sol.players`);
    the slow weights $z$, kept in the state, are the solver's answer (`sol.answer`, and what a
    run records).

    On a bilinear game the pull back towards the slow weights damps the rotation: wrapping
    simultaneous GDA (`optax.sgd(eta)`), which spirals out on `f = xy`, every period multiplies
    the distance to the equilibrium by $|1 - \alpha + \alpha (1 + i\eta)^k|$, e.g. 0.65 for
    $\eta = 0.5$, $k = 5$, $\alpha = 0.5$.

    The inner solver's state is kept at synchronisation, not reset (as Chavdarova et al. and
    `optax.lookahead` do): Adam's moments, or an optimistic rule's previous gradient, carry
    over to the fast weights' restart from the slow ones. The fast weights are the inner
    solver's iterate, so an inner [`minimax.Averaging`][] keeps its average across
    synchronisations. A model state is the inner step's, untouched by synchronisation.

    On a constrained game the inner solver projects the fast weights, and the slow update
    $z + \alpha(\tilde z - z)$ is projected too, so both stay feasible (the fast weights
    restart from the projected slow ones).

    **Arguments:**

    - `solver`: any [`minimax.AbstractSolver`][], run on the fast weights; its `result` is
      reported as this solver's.
    - `sync_period`: $k$, a positive int (static): fast steps between synchronisations.
    - `slow_step_size`: $\alpha \in (0, 1]$, a float; it may be traced (e.g. `jax.vmap` over
      it). $\alpha = 1$ is the inner solver itself.

    ```python
    >>> import jax.numpy as jnp, optax, minimax as mx
    >>> game = mx.ZeroSumGame(lambda x, y, args: x * y)
    >>> gda = mx.Simultaneous(optax.sgd(0.5))  # alone, spirals out on f = xy
    >>> solver = mx.Lookahead(gda, sync_period=5, slow_step_size=0.5)
    >>> sol = mx.solve(game, solver, (jnp.array(1.0), jnp.array(1.0)), steps=200)
    >>> print(float(jnp.hypot(*sol.answer)) < 1e-6)
    True

    ```

    **References:** Zhang, Lucas, Hinton, Ba (2019), *Lookahead optimizer: k steps forward,
    1 step back*, NeurIPS; Chavdarova, Pagliardini, Stich, Fleuret, Jaggi (2021), *Taming GANs
    with Lookahead-Minmax*, ICLR.
    """

    # Checked by `__check_init__`, with clearer messages than a type checker's.
    solver: Any
    sync_period: Any = eqx.field(default=5, static=True, converter=static_int)
    slow_step_size: Any = 0.5

    def __check_init__(self):
        check_int("sync_period", self.sync_period)
        check_scalar("slow_step_size", self.slow_step_size, low=0, high=1, low_open=True)

    def init(
        self,
        game: AbstractGame,
        players: Players,
        args: Any = None,
        key: PRNGKeyArray | None = None,
        *,
        model_state: PyTree = None,
    ) -> LookaheadState:
        inner = self.solver.init(game, players, args, key, model_state=model_state)
        return LookaheadState(split_players(players)[0], inner, jnp.zeros([], jnp.int32))

    def step(
        self,
        game: AbstractGame,
        players: Players,
        state: LookaheadState,
        args: Any = None,
        key: PRNGKeyArray | None = None,
        *,
        model_state: PyTree = None,
    ) -> Step[LookaheadState]:
        out = self.solver.step(game, players, state.inner, args, key, model_state=model_state)
        fast, static = split_players(out.players)
        count = state.count + 1
        sync = count == self.sync_period

        def pull(s, f):
            return s + jnp.asarray(self.slow_step_size, s.dtype) * (f - s)

        # A convex combination of feasible points, projected all the same: it keeps rounding
        # (and non-convex feasible sets) from taking the slow weights off the feasible set.
        slow = state.slow
        pulled = split_players(game.projection(eqx.combine(jax.tree.map(pull, slow, fast), static)))
        slow = jax.tree.map(lambda p, s: jnp.where(sync, p, s), pulled[0], slow)
        fast = jax.tree.map(lambda f, s: jnp.where(sync, s, f), fast, slow)
        state = LookaheadState(slow, out.state, jnp.where(sync, 0, count))
        return Step(eqx.combine(fast, static), state, out.result, out.stats, out.model_state)

    def answer(
        self, game: AbstractGame, players: Players, state: LookaheadState, args: Any = None
    ) -> Players:
        return eqx.combine(state.slow, split_players(players)[1])
