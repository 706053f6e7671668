from typing import Any

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
    state is threaded through both moves: `y`'s evaluation starts from the state `x`'s left.

    **Arguments:** `optimizer` and, optionally, `optimizer_y`, as in
    [`minimax.AbstractOptaxSolver`][].

    **References:** Bailey, Gidel, Piliouras (2020), *Finite regret and cycles with fixed
    step-size via alternating gradient descent-ascent*, COLT; Gidel et al. (2019), *Negative
    momentum for improved game dynamics*, AISTATS.
    """

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
        kx, ky = (None, None) if key is None else jax.random.split(key)
        gx, model_state = _gradient(game, 0, players, args, kx, model_state)
        x, sx = self._move(game, 0, players, gx, state.opt_states[0])
        # At the new (projected) x, with the model state x's evaluation left.
        gy, model_state = _gradient(game, 1, (x, players[1]), args, ky, model_state)
        y, sy = self._move(game, 1, (x, players[1]), gy, state.opt_states[1])
        return Step((x, y), SolverState((sx, sy)), model_state=model_state)


def _gradient(game, player, players, args, key, model_state):
    out = game.gradient(player, players, args, key, model_state=model_state)
    return (out, None) if model_state is None else out
