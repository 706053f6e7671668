from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import PRNGKeyArray, PyTree

from .._game import AbstractGame, Players, field_and_state, split_players
from ..checks import check_scalar
from .base import AbstractOptaxSolver, SolverState, Step


class ConsensusOptimization(AbstractOptaxSolver):
    r"""Consensus optimization (Mescheder, Nowozin, Geiger 2017): follow the game's vector field
    plus the gradient of its squared norm,

    $$v = F(z) + \gamma\, \nabla\big(\tfrac12 \|F(z)\|^2\big) = F(z) + \gamma\, J(z)^\top F(z),
    \qquad z_{t+1} = z_t + \mathrm{opt}(v),$$

    with `F` the game's [vector field][minimax.AbstractGame.vector_field], `J` its Jacobian
    over both players' trainable arrays, and each player's part of `v` passed to its own
    optimizer. The regulariser `|F|^2 / 2` vanishes exactly at the stationary points, and
    descending it pulls the iterates towards them: on bilinear games, where simultaneous
    gradient descent-ascent spirals outwards, this converges for small enough steps (a large
    `gamma` can also attract the iterates to points where `J^T F = 0` but `F != 0`). `J^T F`
    is computed matrix-free, with one vector-Jacobian product of the field: about the cost
    of one more gradient. Zero-sum and
    general-sum games alike; a stochastic game uses the step's key for the field and its
    derivative; the model state is the base point's, from the one evaluation.

    **Arguments:**

    - `optimizer` and, optionally, `optimizer_y`, as in [`minimax.AbstractOptaxSolver`][].
    - `gamma`: the weight $\gamma \ge 0$ of the consensus term (keyword only); `gamma=0` is
      simultaneous gradient descent-ascent. May be traced (e.g. `jax.vmap` over `gamma`).

    ```python
    >>> import jax.numpy as jnp, optax, minimax as mx
    >>> game = mx.ZeroSumGame(lambda x, y, args: x * y)
    >>> solver = mx.ConsensusOptimization(optax.sgd(0.1), gamma=1.0)
    >>> sol = mx.solve(game, solver, (1.0, 1.0), steps=300)
    >>> print(float(abs(sol.players[0])) < 1e-10)
    True

    ```

    **References:** Mescheder, Nowozin, Geiger (2017), *The numerics of GANs*, NeurIPS.
    """

    # Checked by `__check_init__`, with a clearer message than a type checker's.
    gamma: Any = eqx.field(default=1.0, kw_only=True)

    def __check_init__(self):
        check_scalar("gamma", self.gamma, low=0)

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
        params, static = split_players(players)
        field, pull_back, model_state = jax.vjp(
            lambda p: field_and_state(game, p, static, args, key, model_state), params, has_aux=True
        )
        (grad_h,) = pull_back(field)  # J^T F, the gradient of |F|^2 / 2
        gamma = self.gamma
        v = jax.tree.map(lambda f, g: f + jnp.asarray(gamma, f.dtype) * g, field, grad_h)
        return Step(*self._move_both(game, players, v, state), model_state=model_state)
