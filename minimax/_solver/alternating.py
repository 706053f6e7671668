from typing import Any

import equinox as eqx
import jax
from jaxtyping import PRNGKeyArray, PyTree

from .._game import AbstractGame, Players
from .base import AbstractOptaxSolver, SolverState, Step


class Alternating(AbstractOptaxSolver):
    r"""Alternating (Gauss-Seidel) updates: player 0 moves first, player 1 answers the new `x`,

    $$x_{t+1} = x_t + \mathrm{opt}_0\big(\nabla_x \ell_0(x_t, y_t)\big), \qquad
    y_{t+1} = y_t + \mathrm{opt}_1\big(\nabla_y \ell_1(x_{t+1}, y_t)\big).$$

    On bilinear games alternating gradient descent-ascent neither converges nor diverges: it is
    volume-preserving and cycles for ever (Bailey, Gidel, Piliouras 2020), where simultaneous
    GDA spirals outwards. A stochastic game gets independent keys for the two half-steps. On
    a constrained game `x_{t+1}` is projected before `y`'s gradient is taken there. A model
    state is threaded through both moves: the second evaluation starts from the state the
    first left.

    With `first=1` player 1 moves first and player 0 answers the new `y`: the dual-first
    order of a Lagrangian's multipliers (cooper's `alternation_type="DUAL_PRIMAL"`), in which
    the primal step sees multipliers already updated for the current constraint violation.

    **Arguments:**

    - `optimizer` and, optionally, `optimizer_y`, as in [`minimax.AbstractOptaxSolver`][].
    - `first`: the player who moves first, `0` (default) or `1` (keyword only, static).

    ```python
    >>> import jax.numpy as jnp, optax, minimax as mx
    >>> game = mx.ZeroSumGame(lambda x, y, args: x * y)
    >>> for first in (0, 1):
    ...     (x, y), _ = mx.Alternating(optax.sgd(0.5), first=first).step(
    ...         game, (jnp.array(1.0), jnp.array(1.0)), mx.Alternating(optax.sgd(0.5)).init(
    ...             game, (jnp.array(1.0), jnp.array(1.0))))
    ...     print(float(x), float(y))
    0.5 1.25
    0.25 1.5

    ```

    **References:** Bailey, Gidel, Piliouras (2020), *Finite regret and cycles with fixed
    step-size via alternating gradient descent-ascent*, COLT; Gidel et al. (2019), *Negative
    momentum for improved game dynamics*, AISTATS.
    """

    first: Any = eqx.field(default=0, static=True, kw_only=True)  # 0 or 1, checked

    def __check_init__(self):
        if self.first not in (0, 1) or isinstance(self.first, bool):
            raise ValueError(
                f"`first` must be 0 or 1 (the player who moves first), got {self.first!r}."
            )

    def step(
        self,
        game: AbstractGame,
        players: Players,
        state: SolverState,
        args: Any = None,
        key: PRNGKeyArray | None = None,
        *,
        model_state: PyTree = None,
    ) -> Step[SolverState]:
        keys = (None, None) if key is None else jax.random.split(key)
        players, opt_states = list(players), list(state.opt_states)
        for turn, i in enumerate((self.first, 1 - self.first)):
            # The second move at the first's new (projected) point, with the state it left.
            grad, model_state = _gradient(game, i, tuple(players), args, keys[turn], model_state)
            players[i], opt_states[i] = self._move(game, i, tuple(players), grad, opt_states[i])
        return Step(tuple(players), SolverState(tuple(opt_states)), model_state=model_state)


def _gradient(game, player, players, args, key, model_state):
    out = game.gradient(player, players, args, key, model_state=model_state)
    return (out, None) if model_state is None else out
