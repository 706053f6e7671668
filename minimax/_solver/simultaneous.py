from typing import Any

from jaxtyping import PRNGKeyArray, PyTree

from .._game import AbstractGame, Players, field_and_state, split_players
from .base import AbstractOptaxSolver, SolverState, Step


class Simultaneous(AbstractOptaxSolver):
    r"""Simultaneous updates: both players move from gradients taken at the same point,

    $$x_{t+1} = x_t + \mathrm{opt}_0\big(\nabla_x \ell_0(x_t, y_t)\big), \qquad
    y_{t+1} = y_t + \mathrm{opt}_1\big(\nabla_y \ell_1(x_t, y_t)\big).$$

    With [`minimax.optimistic_gradient`][] this is optimistic gradient descent-ascent (OGDA);
    with `optax.sgd` it is simultaneous gradient descent-ascent (GDA). One evaluation of the
    game per step; its new model state is the step's.

    **Arguments:** `optimizer` and, optionally, `optimizer_y`, as in
    [`minimax.AbstractOptaxSolver`][].

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
        field, model_state = field_and_state(game, *split_players(players), args, key, model_state)
        return Step(*self._move_both(game, players, field, state), model_state=model_state)
