import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray, PyTree, Scalar

from .._game import AbstractGame, Players, field_and_state, split_players
from ..checks import check_scalar
from .base import AbstractOptaxSolver, SolverState, Step

# The alignment threshold of Balduzzi et al. (2018), Algorithm 1.
_EPSILON = 0.1


def _dot(a: PyTree[Array], b: PyTree[Array]) -> Scalar:
    products = [
        jnp.vdot(u, w).real for u, w in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    ]
    return sum(products[1:], products[0])


class SGA(AbstractOptaxSolver):
    r"""Symplectic gradient adjustment (Balduzzi et al. 2018; Letcher et al. 2019): remove the
    rotation from the game's vector field by adding its antisymmetric part,

    $$v = F + \lambda' A^\top F, \qquad A = \tfrac12 (J - J^\top), \qquad
    z_{t+1} = z_t + \mathrm{opt}(v),$$

    with `F` the game's [vector field][minimax.AbstractGame.vector_field], `J` its Jacobian
    over both players' trainable arrays, and each player's part of `v` passed to its own
    optimizer. `A^T F = (J^T F - J F) / 2` is computed matrix-free from one linearisation of
    the field (one Jacobian-vector and one vector-Jacobian product).

    With `align=True` the sign of the adjustment follows Algorithm 1 of Balduzzi et al.,
    with $H = \tfrac12\|F\|^2$ the Hamiltonian:

    $$\lambda' = \lambda \cdot \operatorname{sign}\Big(
    \tfrac1d \langle F, \nabla H\rangle \langle A^\top F, \nabla H\rangle + \epsilon\Big),
    \qquad \nabla H = J^\top F,$$

    where $d$ is the number of trainable parameters and $\epsilon = 0.1$. Where $F$ points up
    the Hamiltonian ($\langle F, \nabla H\rangle > 0$, as near a stable fixed point) the
    adjustment turns `v` towards $\nabla H$, so the step descends $H$; where it points down
    (near an unstable one) it turns `v` away; $\epsilon$ settles near-ties on $+\lambda$. As
    $\langle F, \nabla H\rangle = F^\top S F$ sees only the symmetric part $S$ of $J$, on a
    bilinear game ($S = 0$) the sign is $+$ everywhere. With `align=False`,
    $\lambda' = \lambda$. Zero-sum and general-sum games alike; a stochastic game uses the
    step's key for the field and its derivatives, and the model state is the base point's.

    **Arguments:**

    - `optimizer` and, optionally, `optimizer_y`, as in [`minimax.AbstractOptaxSolver`][].
    - `lam`: the magnitude $\lambda \ge 0$ of the adjustment (keyword only); `lam=0` is
      simultaneous gradient descent-ascent. May be traced (e.g. `jax.vmap` over `lam`).
    - `align`: choose the sign of the adjustment as above (`True`, the default), or always
      use `+lam` (`False`).

    ```python
    >>> import jax.numpy as jnp, optax, minimax as mx
    >>> game = mx.ZeroSumGame(lambda x, y, args: x * y)
    >>> solver = mx.SGA(optax.sgd(0.1), lam=1.0)
    >>> sol = mx.solve(game, solver, (1.0, 1.0), steps=300)
    >>> print(float(abs(sol.players[0])) < 1e-10)
    True

    ```

    **References:** Balduzzi, Racanière, Martens, Foerster, Tuyls, Graepel (2018), *The
    mechanics of n-player differentiable games*, ICML; Letcher, Balduzzi, Racanière, Martens,
    Foerster, Tuyls, Graepel (2019), *Differentiable game mechanics*, JMLR 20(84).
    """

    # Checked by `__check_init__`, with clearer messages than a type checker's.
    lam: Any = eqx.field(default=1.0, kw_only=True)
    align: Any = eqx.field(default=True, kw_only=True)

    def __check_init__(self):
        check_scalar("lam", self.lam, low=0)
        if not isinstance(self.align, bool | np.bool_):
            raise TypeError(f"`align` must be a bool, got {self.align!r}.")

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
        # One evaluation of the field, linearised: J F forwards, J^T F by transposition.
        field, jvp, model_state = jax.linearize(
            lambda p: field_and_state(game, p, static, args, key, model_state), params, has_aux=True
        )
        jac_field = jvp(field)
        (jac_t_field,) = jax.linear_transpose(jvp, params)(field)
        adjustment = jax.tree.map(lambda jt, j: (jt - j) / 2, jac_t_field, jac_field)  # A^T F
        lam = self.lam
        if self.align:
            d = sum(math.prod(jnp.shape(leaf)) for leaf in jax.tree.leaves(params))
            # grad H = J^T F.
            alignment = _dot(field, jac_t_field) * _dot(adjustment, jac_t_field) / d
            lam = lam * jnp.sign(alignment + _EPSILON)
        v = jax.tree.map(lambda f, a: f + jnp.asarray(lam, f.dtype) * a, field, adjustment)
        return Step(*self._move_both(game, players, v, state), model_state=model_state)
