from typing import Any

import equinox as eqx
import jax
from jaxtyping import PRNGKeyArray, PyTree

from .._game import AbstractGame, Players, field_and_state, split_players
from .base import AbstractOptaxSolver, SolverState, Step


class ExtraGradient(AbstractOptaxSolver):
    r"""The extra-gradient method (Korpelevich 1976): look ahead, then move from the start with
    the gradient found there,

    $$z_{t+1/2} = z_t + \mathrm{opt}\big(F(z_t)\big), \qquad
    z_{t+1} = z_t + \mathrm{opt}\big(F(z_{t+1/2})\big),$$

    with `F` the game's [vector field][minimax.AbstractGame.vector_field]. Both half-steps start
    from $z_t$ and from the same saved optimizer state $s_t$. By default the look-ahead discards
    the state it returns, so with `optax.sgd(eta)` this is exactly extra-gradient with step `eta`,
    and Adam's moments see only the gradients of the second half-step. With `share_state=True`
    the optimizer state advances at both half-steps,
    $s_{t+1/2} = \mathrm{opt.update}(F(z_t), s_t)$ and
    $s_{t+1} = \mathrm{opt.update}(F(z_{t+1/2}), s_{t+1/2})$, the moves still taken from $z_t$:
    with `optax.adam` this is Extra-Adam (Gidel et al. 2019, Algorithm 4), whose moments see
    every gradient. Two gradient evaluations per step, against one for optimistic gradient, its
    one-call approximation. A stochastic game gets independent keys for the two half-steps; a
    model state is the one the second evaluation (the one that moves the players) returns, both
    evaluations starting from the step's. On a constrained game both points are projected,
    $z_{t+1/2} = P\big(z_t + \mathrm{opt}(F(z_t))\big)$ and
    $z_{t+1} = P\big(z_t + \mathrm{opt}(F(z_{t+1/2}))\big)$: Korpelevich's method as he wrote it.

    **Arguments:**

    - `optimizer` and, optionally, `optimizer_y`, as in [`minimax.AbstractOptaxSolver`][].
    - `share_state`: advance the optimizer state at the look-ahead too (keyword only, static;
      default `False`).

    ```python
    >>> import jax.numpy as jnp, optax, minimax as mx
    >>> game = mx.ZeroSumGame(lambda x, y, args: x * y + 0.1 * (x**2 - y**2))
    >>> adam = optax.adam(0.01, b1=0.5, b2=0.9)
    >>> for share in (False, True):  # Adam's moments see half, or all, of the gradients
    ...     sol = mx.solve(game, mx.ExtraGradient(adam, share_state=share), (1.0, 1.0), steps=2000)
    ...     print(share, f"{float(jnp.hypot(*sol.players)):.3f}")
    False 0.021
    True 0.014

    ```

    **References:** Korpelevich (1976), *The extragradient method for finding saddle points and
    other problems*; Gidel, Berard, Vignoud, Vincent, Lacoste-Julien (2019), *A variational
    inequality perspective on generative adversarial networks*, ICLR.
    """

    share_state: Any = eqx.field(default=False, static=True, kw_only=True)  # a bool, checked

    def __check_init__(self):
        if not isinstance(self.share_state, bool):
            raise TypeError(f"`share_state` must be a bool, got {self.share_state!r}.")

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
        k_look, k_move = (None, None) if key is None else jax.random.split(key)
        field, _ = field_and_state(game, *split_players(players), args, k_look, model_state)
        ahead, half = self._move_both(game, players, field, state)
        field, model_state = field_and_state(game, *split_players(ahead), args, k_move, model_state)
        moved, new = self._move_both(game, players, field, half if self.share_state else state)
        return Step(moved, new, model_state=model_state)
