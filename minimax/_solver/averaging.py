from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Int, PRNGKeyArray, PyTree

from .._game import AbstractGame, Players, split_players
from .._misc import check_choice, check_scalar
from .base import AbstractWrapper

_KINDS = ("uniform", "ema")


class AveragingState(eqx.Module):
    """State of [`minimax.Averaging`][].

    **Fields:**

    - `iterate`: the trainable arrays of the inner solver's current point $z_t$.
    - `inner`: the inner solver's state.
    - `count`: how many points the average holds, $t + 1$ (used by `kind="uniform"`).
    """

    iterate: Players
    inner: PyTree
    count: Int[Array, ""]


class Averaging(AbstractWrapper[AveragingState]):
    r"""Iterate averaging: run any solver, and answer with the average of its points
    $z_0, z_1, \dots$ rather than the last one,

    $$\bar z_t = \frac{1}{t + 1} \sum_{s=0}^{t} z_s
    \quad (\texttt{kind="uniform"}), \qquad
    \bar z_t = \gamma\, \bar z_{t-1} + (1 - \gamma)\, z_t,\ \ \bar z_0 = z_0
    \quad (\texttt{kind="ema"}),$$

    with $\gamma$ = `decay`. The uniform mean is kept as a running mean,
    $\bar z_t = \bar z_{t-1} + (z_t - \bar z_{t-1}) / (t + 1)$. The average is the solver's
    answer: `step` returns it as the players (so a run records and returns it), and keeps the
    iterate $z_t$ and the inner solver's state in its state.

    Averaging turns rotation into convergence: on a bilinear game the uniform average of
    alternating GDA's cycle around the equilibrium converges to it at rate $O(1/t)$, and on
    monotone games the averaged iterates of (stochastic) gradient methods converge where the
    last iterate need not (Gidel et al. 2019). It does not rescue a diverging run: the average
    of simultaneous GDA's outward spiral diverges too. In GAN training an
    exponential moving average of the generator is a cheap and effective way to tame the
    oscillations of the last iterate (Yazıcı et al. 2019); its bias towards $z_0$ decays like
    $\gamma^t$.

    On a constrained game the inner solver's points are projected, and the average is *not*:
    it is a convex combination of feasible points, so it is feasible whenever the feasible set
    is convex (a simplex, a box, a ball: what the convergence of averaged iterates assumes):
    exactly for non-negativity, up to rounding (a few ulps) for other constraints such as the
    simplex's sum. Projecting it would make the answer a different point from the average the
    theory speaks of. For a non-convex feasible set the average can be infeasible: project it
    yourself, `game.projection(sol.players)`.

    **Arguments:**

    - `solver`: any [`minimax.AbstractSolver`][], whose points are averaged; its `result` is
      reported as this solver's.
    - `kind`: `"uniform"` (default) or `"ema"` (keyword only, static).
    - `decay`: $\gamma \in [0, 1)$ for `kind="ema"`, default `0.999`; it may be traced (e.g.
      `jax.vmap` over it). Ignored by `kind="uniform"`.

    **References:** Gidel, Berard, Vignoud, Vincent, Lacoste-Julien (2019), *A variational
    inequality perspective on generative adversarial networks*, ICLR; Yazıcı, Foo, Winkler,
    Yap, Piliouras, Chandrasekhar (2019), *The unusual effectiveness of averaging in GAN
    training*, ICLR.
    """

    # Checked by `__check_init__`, with clearer messages than a type checker's.
    solver: Any
    kind: str = eqx.field(default="uniform", static=True, kw_only=True)
    decay: Any = eqx.field(default=0.999, kw_only=True)

    def __check_init__(self):
        check_choice("kind", self.kind, _KINDS)
        check_scalar("decay", self.decay, low=0, high=1, high_open=True)

    def init(
        self,
        game: AbstractGame,
        players: Players,
        args: Any = None,
        key: PRNGKeyArray | None = None,
    ) -> AveragingState:
        return AveragingState(*self._inner_init(game, players, args, key), jnp.ones([], jnp.int32))

    def step(
        self,
        game: AbstractGame,
        players: Players,
        state: AveragingState,
        args: Any = None,
        key: PRNGKeyArray | None = None,
    ) -> tuple[Players, AveragingState]:
        average, static = split_players(players)
        iterate, inner = self._inner_step(game, state.iterate, static, state.inner, args, key)
        count = state.count + 1

        def update(mean, z):
            if self.kind == "uniform":
                return mean + (z - mean) / count.astype(mean.dtype)
            decay = jnp.asarray(self.decay, mean.dtype)
            return decay * mean + (1 - decay) * z

        average = jax.tree.map(update, average, iterate)
        return eqx.combine(average, static), AveragingState(iterate, inner, count)
