import abc
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Int, PRNGKeyArray, PyTree

from .._game import AbstractGame, Players, split_players
from ..checks import check_scalar
from .base import AbstractWrapper, Step


class AveragingState(eqx.Module):
    """State of [`minimax.Averaging`][] and [`minimax.EMA`][].

    **Fields:**

    - `average`: the running average of the chosen players' trainable arrays (`None` for a
      player that is not averaged).
    - `inner`: the inner solver's state.
    - `count`: how many points the average holds, $t + 1$.
    """

    average: Players
    inner: PyTree
    count: Int[Array, ""]


def _check_players(players: Any) -> None:
    if not (
        isinstance(players, tuple)
        and len(players) == 2
        and all(isinstance(p, bool) for p in players)
        and any(players)
    ):
        raise TypeError(
            "`players` must be a pair of bools saying which players to average, at least one "
            f"True, e.g. `(True, False)` for the generator only; got {players!r}."
        )


class AbstractAveraging(AbstractWrapper[AveragingState]):
    r"""Run any solver and answer with a running average of its iterates,
    $\bar z_t = \bar z_{t-1} + w_t\,(z_t - \bar z_{t-1})$, $\bar z_0 = z_0$; subclasses give the
    weights $w_t$. The iterate $z_t$ stays the live point (`sol.players`); the average is the
    answer (`sol.answer`, and what a run records). A model state is the inner step's, copied
    into the answer as it is (BatchNorm's statistics are not averaged)."""

    solver: eqx.AbstractVar[Any]
    players: eqx.AbstractVar[Any]

    @abc.abstractmethod
    def _weight(self, count: Int[Array, ""], dtype: Any) -> Array:
        """$w_t$ for the average of `count` $= t + 1$ points."""

    def _chosen(self, params: Players) -> Players:
        return tuple(p if keep else None for p, keep in zip(params, self.players, strict=True))

    def init(
        self,
        game: AbstractGame,
        players: Players,
        args: Any = None,
        key: PRNGKeyArray | None = None,
        *,
        model_state: PyTree = None,
    ) -> AveragingState:
        inner = self.solver.init(game, players, args, key, model_state=model_state)
        average = self._chosen(split_players(players)[0])
        return AveragingState(average, inner, jnp.ones([], jnp.int32))

    def step(
        self,
        game: AbstractGame,
        players: Players,
        state: AveragingState,
        args: Any = None,
        key: PRNGKeyArray | None = None,
        *,
        model_state: PyTree = None,
    ) -> Step[AveragingState]:
        out = self.solver.step(game, players, state.inner, args, key, model_state=model_state)
        count = state.count + 1

        def update(mean, z):
            return mean + self._weight(count, mean.dtype) * (z - mean)

        iterate = self._chosen(split_players(out.players)[0])
        average = jax.tree.map(update, state.average, iterate)
        state = AveragingState(average, out.state, count)
        return Step(out.players, state, out.result, out.stats, out.model_state)

    def answer(
        self, game: AbstractGame, players: Players, state: AveragingState, args: Any = None
    ) -> Players:
        params, static = split_players(players)
        chosen = tuple(
            a if keep else p for a, p, keep in zip(state.average, params, self.players, strict=True)
        )
        return eqx.combine(chosen, static)


class Averaging(AbstractAveraging):
    r"""Uniform iterate averaging: run any solver, and answer with the mean of its iterates,

    $$\bar z_t = \frac{1}{t + 1} \sum_{s=0}^{t} z_s,$$

    kept as a running mean, $\bar z_t = \bar z_{t-1} + (z_t - \bar z_{t-1}) / (t + 1)$. The
    iterate $z_t$ stays the live point: `sol.players` and `sol.state` resume the run, and
    `sol.answer` (what a run records) is the average.

    Averaging turns rotation into convergence: on a bilinear game the average of alternating
    GDA's cycle around the equilibrium converges to it at rate $O(1/t)$, and on monotone games
    the averaged iterates of (stochastic) gradient methods converge where the last iterate need
    not (Gidel et al. 2019). It does not rescue a diverging run: the average of simultaneous
    GDA's outward spiral diverges too.

    On a constrained game the inner solver's points are projected, and the average is *not*:
    it is a convex combination of feasible points, so it is feasible whenever the feasible set
    is convex (a simplex, a box, a ball: what the convergence of averaged iterates assumes),
    up to rounding. For a non-convex feasible set, project it yourself:
    `game.projection(sol.answer)`.

    **Arguments:**

    - `solver`: any [`minimax.AbstractSolver`][], whose iterates are averaged.
    - `players`: which players to average, a pair of bools (keyword only, static); default
      both. A player that is not averaged answers with its iterate.

    ```python
    >>> import jax.numpy as jnp, optax, minimax as mx
    >>> game = mx.ZeroSumGame(lambda x, y, args: x * y)
    >>> solver = mx.Averaging(mx.Alternating(optax.sgd(0.1)))  # alone, cycles for ever
    >>> sol = mx.solve(game, solver, (1.0, 1.0), steps=4000)
    >>> print(float(jnp.hypot(*sol.players)) > 0.5, float(jnp.hypot(*sol.answer)) < 0.01)
    True True

    ```

    **References:** Gidel, Berard, Vignoud, Vincent, Lacoste-Julien (2019), *A variational
    inequality perspective on generative adversarial networks*, ICLR; Bailey, Gidel, Piliouras
    (2020), *Finite regret and cycles with fixed step-size via alternating gradient
    descent-ascent*, COLT.
    """

    # Checked by `__check_init__`, with clearer messages than a type checker's.
    solver: Any
    players: Any = eqx.field(default=(True, True), static=True, kw_only=True)

    def __check_init__(self):
        _check_players(self.players)

    def _weight(self, count, dtype):
        return 1 / count.astype(dtype)


class EMA(AbstractAveraging):
    r"""An exponential moving average of the iterates, of both players or of one (in a GAN,
    the generator's: Yazıcı et al. 2019; Karras et al. 2018):

    $$\bar z_t = \gamma\, \bar z_{t-1} + (1 - \gamma)\, z_t, \qquad \bar z_0 = z_0,$$

    with $\gamma$ = `decay`. With `debias=True` the average starts from zero and is divided by
    $1 - \gamma^{t+1}$, as Adam debiases its moments: the weights
    $\gamma^{t-s}(1 - \gamma) / (1 - \gamma^{t+1})$ then sum to one at every $t$ and the start
    $z_0$ is forgotten like $\gamma^t$ without dominating the first $1/(1-\gamma)$ steps. Both
    are kept as one running mean, $w_t = 1 - \gamma$ or $w_t = (1 - \gamma) / (1 -
    \gamma^{t+1})$.

    The iterate stays the live point: `sol.players` and `sol.state` resume the run, and
    `sol.answer` (what a run records) holds the average of the chosen players and the
    iterate of the others. A model state (BatchNorm's running statistics) is copied, not
    averaged: sample from the averaged generator with `sol.model_state`.

    **Arguments:**

    - `solver`: any [`minimax.AbstractSolver`][].
    - `decay`: $\gamma \in [0, 1)$, default `0.999`; it may be traced (e.g. `jax.vmap` over
      it).
    - `players`: which players to average, a pair of bools (keyword only, static); default
      both, `(True, False)` for a GAN's generator only.
    - `debias`: start from zero and debias (keyword only, static); default `False`.

    ```python
    >>> import jax.numpy as jnp, minimax as mx
    >>> game = mx.ZeroSumGame(lambda x, y, args: x * y)
    >>> solver = mx.EMA(mx.Simultaneous(mx.optimistic_gradient(0.1)), 0.9, players=(True, False))
    >>> sol = mx.solve(game, solver, (1.0, 1.0), steps=3)
    >>> print(sol.answer[1] == sol.players[1], sol.answer[0] != sol.players[0])
    True True

    ```

    **References:** Yazıcı, Foo, Winkler, Yap, Piliouras, Chandrasekhar (2019), *The unusual
    effectiveness of averaging in GAN training*, ICLR; Karras, Aila, Laine, Lehtinen (2018),
    *Progressive growing of GANs*, ICLR.
    """

    # Checked by `__check_init__`, with clearer messages than a type checker's.
    solver: Any
    decay: Any = 0.999
    players: Any = eqx.field(default=(True, True), static=True, kw_only=True)
    debias: Any = eqx.field(default=False, static=True, kw_only=True)

    def __check_init__(self):
        check_scalar("decay", self.decay, low=0, high=1, high_open=True)
        _check_players(self.players)
        if not isinstance(self.debias, bool):
            raise TypeError(f"`debias` must be a bool, got {self.debias!r}.")

    def _weight(self, count, dtype):
        decay = jnp.asarray(self.decay, dtype)
        if self.debias:
            return (1 - decay) / (1 - decay ** count.astype(dtype))
        return 1 - decay
