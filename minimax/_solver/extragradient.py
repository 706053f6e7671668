from typing import Any

import jax
from jaxtyping import PRNGKeyArray

from .._game import AbstractGame, Players
from .base import AbstractOptaxSolver, SolverState


class ExtraGradient(AbstractOptaxSolver):
    r"""The extra-gradient method (Korpelevich 1976): look ahead, then move from the start with
    the gradient found there,

    $$z_{t+1/2} = z_t + \mathrm{opt}\big(F(z_t)\big), \qquad
    z_{t+1} = z_t + \mathrm{opt}\big(F(z_{t+1/2})\big),$$

    with `F` the game's [vector field][minimax.AbstractGame.vector_field]. The look-ahead uses
    each optimizer's current state and discards the state it returns, so with `optax.sgd(eta)`
    this is exactly extra-gradient with step `eta`; with Adam, the moments see only the gradients
    of the second half-step. Two gradient evaluations per step, against one for optimistic
    gradient, its one-call approximation. A stochastic game gets independent keys for the two
    half-steps. On a constrained game both points are projected,
    $z_{t+1/2} = P\big(z_t + \mathrm{opt}(F(z_t))\big)$ and
    $z_{t+1} = P\big(z_t + \mathrm{opt}(F(z_{t+1/2}))\big)$: Korpelevich's method as he wrote it.

    **Arguments:** `optimizer` and, optionally, `optimizer_y`, as in
    [`minimax.AbstractOptaxSolver`][].

    **References:** Korpelevich (1976), *The extragradient method for finding saddle points and
    other problems*; Gidel, Berard, Vignoud, Vincent, Lacoste-Julien (2019), *A variational
    inequality perspective on generative adversarial networks*, ICLR.
    """

    def step(
        self,
        game: AbstractGame,
        players: Players,
        state: SolverState,
        args: Any = None,
        key: PRNGKeyArray | None = None,
    ) -> tuple[Players, SolverState]:
        k_look, k_move = (None, None) if key is None else jax.random.split(key)
        ahead, _ = self._move_both(game, players, game.vector_field(players, args, k_look), state)
        return self._move_both(game, players, game.vector_field(ahead, args, k_move), state)
