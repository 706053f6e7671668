from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray, PyTree, Scalar

from .._game import AbstractGame, Players, split_players
from .._results import RESULTS
from ..checks import check_callable, check_int, check_scalar, static_int
from .base import AbstractWrapper, Step


def natural_residual(
    game: AbstractGame, players: Players, args: Any = None, key: PRNGKeyArray | None = None
) -> Scalar:
    r"""The natural residual $\|z - P(z - F(z))\|_2$ of the game's variational inequality, with
    `F` the game's [vector field][minimax.AbstractGame.vector_field] and `P` its
    [projection][minimax.AbstractGame.projection]: zero exactly at the equilibria of a
    (projected) monotone game, and for an unconstrained game the norm of the field. A
    stochastic game's field is taken with `key`."""
    params, static = split_players(players)
    field = game.field(params, static, args, key)
    stepped = jax.tree.map(lambda p, g: p - g, params, field)
    projected = split_players(game.projection(eqx.combine(stepped, static)))[0]
    pairs = zip(jax.tree.leaves(params), jax.tree.leaves(projected), strict=True)
    squares = [jnp.sum((p - q) ** 2) for p, q in pairs]
    return jnp.sqrt(sum(squares))


class RestartedState(eqx.Module):
    """State of [`minimax.Restarted`][].

    **Fields:**

    - `average`: the trainable arrays' mean over the iterates since the last restart.
    - `inner`: the inner solver's state.
    - `count`: steps since the last restart (how many iterates the average holds).
    - `reference`: the merit at the last restart (at the start, before any).
    """

    average: Players
    inner: PyTree
    count: Int[Array, ""]
    reference: Float[Array, ""]


class Restarted(AbstractWrapper[RestartedState]):
    r"""Adaptive restarts (PDLP's scheme, Applegate et al. 2021): run any solver, keep the
    average of its iterates since the last restart, and restart from the better of the average
    and the current iterate once the merit has dropped enough.

    Every `check_every` = $k$ steps, with $\bar z$ the mean of the iterates since the last
    restart $z_r$ and $z_t$ the current one, the candidate is whichever of the two has the
    smaller merit $\mu$ (PDLP's candidate rule),

    $$z_c = \operatorname*{arg\,min}_{z \in \{\bar z,\ z_t\}} \mu(z), \qquad
    \text{restart if } \mu(z_c) \le \beta\, \mu(z_r),$$

    with $\beta$ = `beta` (PDLP's "sufficient decay", 0.2). A restart sets the iterate to
    $z_c$, re-initialises the inner solver there (`solver.init`: an optimistic rule's memory,
    Adam's moments) and empties the average; $z_c$ becomes the new $z_r$. The default merit is
    the natural residual $\mu(z) = \|z - P(z - F(z))\|_2$ ($F$ the game's
    [vector field][minimax.AbstractGame.vector_field], $P$ its
    [projection][minimax.AbstractGame.projection]), zero exactly at an equilibrium of a
    monotone game.

    Why: on bilinear games and linear programs, the average of an extra-gradient or optimistic
    run converges at rate $O(1/t)$ where the last iterate is slower; restarting the average
    whenever it has made a constant factor of progress turns that into a linear rate for
    problems that are *sharp* (the merit grows linearly with the distance to the equilibria, as
    for every LP), the rate of the restarted methods of Applegate et al. (2023) and Lu & Yang.
    On a strongly monotone game, where the last iterate already converges linearly, restarts
    change little.

    The current iterate (after a restart, the restart point) is the live point and the answer:
    `sol.players` and `sol.state` resume a run exactly. The inner
    solver's `result`, statistics and model state are passed on (a step whose inner solver
    reports a failure never restarts, so the failure is not masked), and each step reports
    `stats["restarts"]`, 1 when it restarted.

    PDLP's other two criteria (a restart after a small decay with no progress, and an
    artificial restart after a long epoch) are left out; check more often (a smaller
    `check_every`) to restart sooner.

    **Arguments:**

    - `solver`: any [`minimax.AbstractSolver`][].
    - `merit`: `merit(game, players, args) -> scalar`, smaller is better (zero at a solution);
      the natural residual above if omitted (on a stochastic game, with the step's key for
      both candidates). A merit of your own takes no `key`. For a linear program,
      `lambda game, players, args: game.kkt_error(players)` is PDLP's choice of a KKT error.
    - `check_every`: $k$, a positive int (static, keyword only): steps between evaluations of
      the merit (two each).
    - `beta`: $\beta \in (0, 1)$, keyword only; it may be traced (e.g. `jax.vmap` over it).

    ```python
    >>> import jax.numpy as jnp, optax, minimax as mx
    >>> # min x1 + 2 x2 s.t. x1 + x2 = 1, x >= 0 (optimum x = (1, 0), dual y = 1), as
    >>> # min over x >= 0 of max over y of c.x - y (a.x - 1); see games.LinearProgram.
    >>> c, a = jnp.array([1.0, 2.0]), jnp.array([1.0, 1.0])
    >>> game = mx.ZeroSumGame(
    ...     lambda x, y, args: c @ x - y * (a @ x - 1),
    ...     project=(optax.projections.projection_non_negative, None),
    ... )
    >>> ogda = mx.Simultaneous(mx.optimistic_gradient(0.2))
    >>> for solver in (ogda, mx.Restarted(ogda, check_every=16)):
    ...     sol = mx.solve(game, solver, (jnp.zeros(2), jnp.array(0.0)), steps=200)
    ...     print(abs(float(sol.players[1]) - 1) < 1e-5)
    False
    True

    ```

    **References:** Applegate, Díaz, Hinder, Lu, Lubin, O'Donoghue, Schudy (2021), *Practical
    large-scale linear programming using primal-dual hybrid gradient*, NeurIPS; Applegate,
    Hinder, Lu, Lubin (2023), *Faster first-order primal-dual methods for linear programming
    using restarts and sharpness*, Mathematical Programming; Lu, Yang (2023), *cuPDLP.jl: A
    GPU implementation of restarted primal-dual hybrid gradient for linear programming in
    Julia*.
    """

    # Checked by `__check_init__`, with clearer messages than a type checker's.
    solver: Any
    merit: Any = eqx.field(default=None, kw_only=True)
    check_every: Any = eqx.field(default=64, static=True, converter=static_int, kw_only=True)
    beta: Any = eqx.field(default=0.2, kw_only=True)

    def __check_init__(self):
        if self.merit is not None:
            check_callable("merit", self.merit)
        check_int("check_every", self.check_every)
        check_scalar("beta", self.beta, low=0, high=1, low_open=True, high_open=True)

    def _merit(self, game: AbstractGame, players: Players, args: Any, key: Any) -> Scalar:
        if self.merit is None:  # a stochastic game's with one key for both candidates
            value = natural_residual(game, players, args, key)
        else:
            value = jnp.asarray(self.merit(game, players, args))
        if value.shape != ():
            raise ValueError(f"`merit` must return a scalar, got an array of shape {value.shape}.")
        if not jnp.issubdtype(value.dtype, jnp.floating):
            value = value.astype(float)
        return value

    def _candidate(
        self,
        game: AbstractGame,
        average: Players,
        current: Players,
        static: Players,
        args: Any,
        key: Any,
    ) -> tuple[Players, Scalar]:
        """PDLP's candidate: `(point, merit)`, the better of the two."""
        at_average = self._merit(game, eqx.combine(average, static), args, key)
        at_current = self._merit(game, eqx.combine(current, static), args, key)
        use_average = at_average < at_current
        point = _select(use_average, average, current)
        return point, jnp.where(use_average, at_average, at_current)

    def init(
        self,
        game: AbstractGame,
        players: Players,
        args: Any = None,
        key: PRNGKeyArray | None = None,
        *,
        model_state: PyTree = None,
    ) -> RestartedState:
        zero = jnp.zeros([], jnp.int32)
        return RestartedState(
            split_players(players)[0],
            self.solver.init(game, players, args, key, model_state=model_state),
            zero,
            self._merit(game, players, args, key),
        )

    def step(
        self,
        game: AbstractGame,
        players: Players,
        state: RestartedState,
        args: Any = None,
        key: PRNGKeyArray | None = None,
        *,
        model_state: PyTree = None,
    ) -> Step[RestartedState]:
        out = self.solver.step(game, players, state.inner, args, key, model_state=model_state)
        current, static = split_players(out.players)
        inner, inner_static = eqx.partition(out.state, eqx.is_array)
        count = state.count + 1
        average = jax.tree.map(
            lambda a, z: a + (z - a) / count.astype(a.dtype), state.average, current
        )

        # Every step pays only for the average; the merits, and a restart's re-initialisation
        # and selections, run inside the branch taken every `check_every` steps.
        def check(carry):
            current, average, inner, count, reference = carry
            point, merit = self._candidate(game, average, current, static, args, key)
            beta = jnp.asarray(self.beta, reference.dtype)
            restart = (merit <= beta * reference) & (out.result == RESULTS.successful)
            fresh = self.solver.init(
                game, eqx.combine(point, static), args, key, model_state=out.model_state
            )
            carry = (
                _select(restart, point, current),
                _select(restart, point, average),
                _select(restart, eqx.filter(fresh, eqx.is_array), inner),
                jnp.where(restart, 0, count),
                jnp.where(restart, merit, reference).astype(reference.dtype),
            )
            return carry, restart

        carry = (current, average, inner, count, state.reference)
        carry, restart = jax.lax.cond(
            count % self.check_every == 0, check, lambda carry: (carry, jnp.array(False)), carry
        )
        current, average, inner, count, reference = carry
        state = RestartedState(average, eqx.combine(inner, inner_static), count, reference)
        stats = {**out.stats, "restarts": restart.astype(jnp.int32)}
        return Step(eqx.combine(current, static), state, out.result, stats, out.model_state)


def _select(pred, a, b):
    return jax.tree.map(lambda u, v: jnp.where(pred, u, v), a, b)
