from typing import Any

import equinox as eqx
import jax.numpy as jnp
import optax
from jaxtyping import Array, Int, PRNGKeyArray

from .._game import AbstractGame, Players
from .base import AbstractSolver


class SimultaneousState(eqx.Module):
    """State of [`minimax.Simultaneous`][].

    **Fields:** `step`, the number of steps taken; `opt_states`, each player's optax state.
    """

    step: Int[Array, ""]
    opt_states: tuple[optax.OptState, optax.OptState]


class Simultaneous(AbstractSolver[SimultaneousState]):
    r"""Simultaneous updates: both players move from gradients taken at the same point,

    $$x_{t+1} = x_t + \mathrm{opt}_0\big(\nabla_x \ell_0(x_t, y_t)\big), \qquad
    y_{t+1} = y_t + \mathrm{opt}_1\big(\nabla_y \ell_1(x_t, y_t)\big).$$

    With [`minimax.optimistic_gradient`][] this is optimistic gradient descent-ascent (OGDA);
    with `optax.sgd` it is simultaneous gradient descent-ascent (GDA).

    **Arguments:**

    - `optimizer`: an optax `GradientTransformation` for player 0 (`x`), and for player 1 too
      unless `optimizer_max` is given.
    - `optimizer_max`: an optax `GradientTransformation` for player 1 (`y`), optional.

    ```python
    >>> import jax.numpy as jnp, minimax as mx
    >>> game = mx.ZeroSumGame(lambda x, y, args: jnp.vdot(x, y))
    >>> solver = mx.Simultaneous(mx.optimistic_gradient(0.1))
    >>> players = (jnp.ones(2), jnp.ones(2))
    >>> state = solver.init(game, players)
    >>> (x, y), state = solver.step(game, players, state)
    >>> print(x, y)
    [0.9 0.9] [1.1 1.1]

    ```
    """

    optimizer: optax.GradientTransformation
    optimizer_max: optax.GradientTransformation | None = None

    @property
    def _optimizers(self):
        return self.optimizer, self.optimizer if self.optimizer_max is None else self.optimizer_max

    def init(
        self,
        game: AbstractGame,
        players: Players,
        args: Any = None,
        key: PRNGKeyArray | None = None,
    ) -> SimultaneousState:
        params = eqx.filter(tuple(players), eqx.is_inexact_array)
        opt_states = tuple(opt.init(p) for opt, p in zip(self._optimizers, params, strict=True))
        return SimultaneousState(jnp.zeros([], jnp.int32), opt_states)

    def step(
        self,
        game: AbstractGame,
        players: Players,
        state: SimultaneousState,
        args: Any = None,
        key: PRNGKeyArray | None = None,
    ) -> tuple[Players, SimultaneousState]:
        players = tuple(players)
        grads = game.vector_field(players, args, key)
        params = eqx.filter(players, eqx.is_inexact_array)
        updates, opt_states = zip(
            *(
                opt.update(g, s, p)
                for opt, g, s, p in zip(
                    self._optimizers, grads, state.opt_states, params, strict=True
                )
            ),
            strict=True,
        )
        players = eqx.apply_updates(players, tuple(updates))
        return players, SimultaneousState(state.step + 1, tuple(opt_states))
