"""Constrained minimisation as a game between the variables and the Lagrange multipliers."""

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, PyTree, Scalar

import minimax as mx
from minimax.checks import check_callable

Multipliers = tuple[Float[Array, "..."] | None, Float[Array, "..."] | None]


def project_multipliers(multipliers: Multipliers) -> Multipliers:
    """`(lam, nu)` with `lam` clipped to be non-negative and `nu` unchanged: the projection onto
    the multipliers' feasible set."""
    lam, nu = multipliers
    return optax.projections.projection_non_negative(lam), nu


def _constraint_values(name: str, fn: Callable, x: PyTree, args: Any) -> Array:
    """`fn(x, args)` as one floating-point array, or a clear error."""
    out = fn(x, args)
    if isinstance(out, float | int) and not isinstance(out, bool):
        out = jnp.asarray(out, float)
    if not (eqx.is_array(out) or isinstance(out, np.ndarray | np.generic)):
        raise TypeError(
            f"`{name}(x, args)` must return one array of constraint values (any shape), got "
            f"{type(out).__name__}; stack several constraints into one, e.g. "
            "`jnp.stack([g1, g2])`."
        )
    if not jnp.issubdtype(jnp.result_type(out), jnp.inexact):
        raise TypeError(
            f"`{name}(x, args)` must return floating-point values, got dtype "
            f"{jnp.result_type(out)}."
        )
    return jnp.asarray(out)


class AbstractLagrangian(mx.AbstractGame):
    """What the Lagrangian games share: a constrained minimisation's objective and constraints,
    the multipliers `(lam, nu)` as player 1 (`lam` kept non-negative by the game's projection),
    and the diagnostics [`games.Lagrangian.violation`][] and [`games.Lagrangian.kkt_error`][].
    See [`games.Lagrangian`][] and [`games.ProxyLagrangian`][]."""

    objective: eqx.AbstractVar[Callable]
    inequality: eqx.AbstractVar[Callable | None]
    equality: eqx.AbstractVar[Callable | None]

    def constraints(self, x: PyTree, args: Any = None) -> Multipliers:
        """The constraint values `(g(x), h(x))` (`None` for a missing constraint)."""
        return tuple(
            None if fn is None else _constraint_values(name, fn, x, args)
            for name, fn in (("inequality", self.inequality), ("equality", self.equality))
        )

    def initial_multipliers(self, x: PyTree, args: Any = None) -> Multipliers:
        """Zero multipliers `(lam, nu)` of the shapes and dtypes of `(g(x, args), h(x, args))`
        (`None` for a missing constraint), found without evaluating the constraints
        (`jax.eval_shape`)."""
        shapes = jax.eval_shape(lambda x: self.constraints(x, args), x)
        return tuple(None if s is None else jnp.zeros(s.shape, s.dtype) for s in shapes)

    def _multipliers(self, y: Any) -> Multipliers:
        if not isinstance(y, tuple | list) or len(y) != 2:
            raise TypeError(
                "`players[1]` must be the multipliers `(lam, nu)`, as given by "
                f"`game.initial_multipliers(x)`, got {type(y).__name__}."
            )
        for i, (name, fn) in enumerate((("lam", self.inequality), ("nu", self.equality))):
            if (fn is None) != (y[i] is None):
                which = "inequality" if i == 0 else "equality"
                expected = "None" if fn is None else "an array"
                raise ValueError(
                    f"`players[1][{i}]` ({name}) must be {expected} since the game has "
                    f"{'no' if fn is None else 'an'} `{which}` constraint; start from "
                    "`game.initial_multipliers(x)`."
                )
        return tuple(y)

    def _objective(self, x: PyTree, args: Any) -> Scalar:
        f = jnp.asarray(self.objective(x, args))
        if f.shape != ():
            raise ValueError(f"`objective` must return a scalar, got an array of shape {f.shape}.")
        return f

    def _price(self, y: Any, values: Multipliers) -> Scalar:
        """`lam . g + nu . h` for constraint values `(g, h)`."""
        total = 0.0
        for name, multiplier, v in zip(("lam", "nu"), self._multipliers(y), values, strict=True):
            if multiplier is None:
                continue
            if jnp.shape(multiplier) != v.shape:
                raise ValueError(
                    f"`{name}` has shape {jnp.shape(multiplier)}, but the constraint returns "
                    f"shape {v.shape}; start from `game.initial_multipliers(x)`."
                )
            total = total + jnp.sum(multiplier * v)
        return total

    def violation(self, x: PyTree, args: Any = None) -> Scalar:
        r"""The largest constraint violation, $\max(\max_i g_i(x)^+,\ \max_j |h_j(x)|)$ (0 when
        `x` is feasible)."""
        g, h = self.constraints(x, args)
        parts = [jnp.max(jnp.maximum(g, 0), initial=0)] if g is not None else []
        parts += [jnp.max(jnp.abs(h), initial=0)] if h is not None else []
        return jnp.max(jnp.stack(jnp.broadcast_arrays(*parts)))

    def kkt_error(self, players: Any, args: Any = None) -> Scalar:
        r"""The largest violation of the KKT conditions at `(x, (lam, nu))`, in the max norm:
        stationarity $\|\nabla_x \mathcal{L}\|_\infty$ (of the Lagrangian `x` minimises), the
        constraints' violation ([`games.Lagrangian.violation`][]), dual feasibility
        $\max_i (-\lambda_i)^+$ and complementary slackness $\max_i |\lambda_i g_i(x)|$. Zero
        exactly at a KKT point."""
        x, (lam, _) = players[0], self._multipliers(players[1])
        grad = self.gradient(0, players, args)
        parts = [jnp.max(jnp.abs(leaf), initial=0) for leaf in jax.tree.leaves(grad)]
        parts.append(self.violation(x, args))
        if lam is not None:
            g, _ = self.constraints(x, args)
            parts.append(jnp.max(jnp.maximum(-lam, 0), initial=0))
            parts.append(jnp.max(jnp.abs(lam * g), initial=0))
        return jnp.max(jnp.stack(jnp.broadcast_arrays(*parts)))

    def equilibrium(self, near=None):
        """Raises `NotImplementedError`: a KKT point has no closed form in general. Find one
        with a solver (e.g. projected extra-gradient or optimistic gradient) and check it with
        [`games.Lagrangian.kkt_error`][]."""
        raise NotImplementedError(
            "A Lagrangian has no closed-form equilibrium (its saddle points are the KKT points of "
            "the constrained problem); find one with a solver, e.g. "
            "minimax.solve(game, minimax.ExtraGradient(optax.sgd(lr)), (x0, "
            "game.initial_multipliers(x0))), and check it with `game.kkt_error`."
        )


def _check_constraints(objective: Any, constraints: dict[str, Any]) -> None:
    check_callable("objective", objective)
    if constraints["inequality"] is None and constraints["equality"] is None:
        raise ValueError(
            "A Lagrangian needs a constraint: give `inequality` (g(x, args) <= 0) or "
            "`equality` (h(x, args) == 0), or both. Without constraints, minimise "
            "`objective` directly (e.g. with optax)."
        )
    for name, fn in constraints.items():
        if fn is not None:
            check_callable(name, fn)


class Lagrangian(AbstractLagrangian, mx.AbstractZeroSumGame):
    r"""The Lagrangian game of a constrained minimisation,

    $$\min_x\ f(x) \quad \text{s.t.}\quad g(x) \le 0,\ h(x) = 0
    \qquad\leadsto\qquad
    \min_x\ \max_{\lambda \ge 0,\ \nu}\ \mathcal{L}(x, (\lambda, \nu))
    = f(x) + \lambda^\top g(x) + \nu^\top h(x).$$

    Player 0 is the variable `x` (any PyTree); player 1 is the pair of multipliers
    `(lam, nu)`, which maximises $\mathcal{L}$ (a zero-sum game). The game's projection keeps
    `lam` non-negative and leaves `nu` free; `x` is unconstrained (put simple constraints on
    `x`, such as bounds, into `g`). A missing constraint's multiplier is `None`: the pair is
    `(lam, None)` or `(None, nu)`. Start from [`games.Lagrangian.initial_multipliers`][]: zeros
    of the constraints' shapes.

    Gradient descent-ascent on $\mathcal{L}$ is the Arrow-Hurwicz primal-dual method: a
    violated constraint raises its multiplier, which pushes `x` back towards the feasible set.
    The saddle points are the KKT points: for a convex problem (convex `f` and `g`, affine `h`)
    satisfying Slater's condition they are exactly the optimal `x` with its optimal
    multipliers,

    $$\nabla f(x) + \textstyle\sum_i \lambda_i \nabla g_i(x) + \sum_j \nu_j \nabla h_j(x) = 0,
    \quad g(x) \le 0,\ h(x) = 0,\ \lambda \ge 0,\ \lambda_i g_i(x) = 0.$$

    For non-convex problems the KKT points are only stationary, and the game may have no saddle
    point. `equilibrium` therefore raises `NotImplementedError`: there is no closed form in
    general. Check a run with [`games.Lagrangian.kkt_error`][].

    **Arguments:**

    - `objective`: `f(x, args) -> scalar`.
    - `inequality`: `g(x, args) -> array` of any shape, feasible where `g(x) <= 0`; optional.
    - `equality`: `h(x, args) -> array` of any shape, feasible where `h(x) == 0`; optional.

    At least one constraint must be given.

    ```python
    >>> import jax.numpy as jnp, optax, games, minimax as mx
    >>> # min (x1 - 1)^2 + (x2 - 2)^2 s.t. x1 + x2 <= 1: the KKT point is x = (0, 1), lam = 2.
    >>> game = games.Lagrangian(
    ...     lambda x, args: jnp.sum((x - jnp.array([1.0, 2.0])) ** 2),
    ...     inequality=lambda x, args: jnp.sum(x) - 1.0,
    ... )
    >>> x0 = jnp.zeros(2)
    >>> solver = mx.ExtraGradient(optax.sgd(0.2))
    >>> sol = mx.solve(game, solver, (x0, game.initial_multipliers(x0)), steps=500)
    >>> x, (lam, nu) = sol.players
    >>> print(x.round(4) + 0.0, lam.round(4), nu)  # + 0.0: no "-0."
    [0. 1.] 2.0 None

    ```

    **References:** Arrow, Hurwicz, Uzawa (1958), *Studies in linear and non-linear
    programming*; Boyd, Vandenberghe (2004), *Convex Optimization*, Chapter 5; Cotter, Jiang,
    Sridharan (2019), *Two-player games for efficient non-convex constrained optimization*,
    ALT.
    """

    objective: Callable
    inequality: Callable | None
    equality: Callable | None

    # Checked in `__init__`, with clearer messages than a type checker's.
    def __init__(self, objective, inequality=None, equality=None):
        _check_constraints(objective, {"inequality": inequality, "equality": equality})
        self.objective = objective
        self.inequality = inequality
        self.equality = equality
        self.project = (None, project_multipliers)

    def value(self, x, y, args=None, key=None) -> Scalar:
        return self._objective(x, args) + self._price(y, self.constraints(x, args))


class ProxyLagrangian(AbstractLagrangian, mx.AbstractGeneralSumGame):
    r"""The proxy-Lagrangian game of a constrained minimisation whose constraints have no useful
    gradient (rates, coverage, accuracy: counts of thresholded predictions): each constraint
    comes with a differentiable *proxy* (a surrogate, e.g. a hinge or a sigmoid in place of a
    step), and the two players see different constraints,

    $$\min_x\ f(x) + \lambda^\top \tilde g(x) + \nu^\top \tilde h(x),
    \qquad
    \max_{\lambda \ge 0,\ \nu}\ f(x) + \lambda^\top g(x) + \nu^\top h(x):$$

    `x` follows the gradient of the proxies $\tilde g, \tilde h$, while the multipliers rise and
    fall with the violation of the true constraints $g, h$, so that it is the true constraints
    that are enforced. The game is no longer zero-sum. Its field is
    $F = (\nabla_x \tilde{\mathcal{L}},\ -(g(x), h(x)))$: the multipliers' gradient needs no
    derivative of $g$ or $h$, which may be piecewise constant. Cotter, Jiang and Sridharan
    (2019) show that the players' no-regret dynamics reach an approximately optimal and
    approximately feasible *distribution* over iterates (in practice, average the iterates or
    keep the best feasible one); the true constraints need not be differentiable.

    Player 0 is the variable `x`, player 1 the multipliers `(lam, nu)`, as in
    [`games.Lagrangian`][] (with [`games.Lagrangian.initial_multipliers`][] from the true
    constraints). `kkt_error` measures stationarity of the proxy Lagrangian `x` follows, and
    feasibility and complementary slackness of the true constraints.

    **Arguments:**

    - `objective`: `f(x, args) -> scalar`.
    - `inequality`, `equality`: the true constraints `g(x, args) <= 0` and `h(x, args) == 0`,
      each an array of any shape; at least one.
    - `proxy_inequality`, `proxy_equality`: differentiable surrogates of the same shapes, seen
      by `x` in place of `inequality` and `equality`; a constraint without a proxy is its own.
      At least one proxy (without any, use [`games.Lagrangian`][]).

    ```python
    >>> import jax.numpy as jnp, optax, games, minimax as mx
    >>> # min (x - 2)^2 s.t. [x > 1] <= 0.5, i.e. x <= 1: a step, whose gradient is 0.
    >>> game = games.ProxyLagrangian(
    ...     lambda x, args: (x - 2.0) ** 2,
    ...     inequality=lambda x, args: jnp.where(x > 1.0, 1.0, 0.0) - 0.5,
    ...     proxy_inequality=lambda x, args: x - 1.0,
    ... )
    >>> x0 = jnp.array(0.0)
    >>> sol = mx.solve(game, mx.Simultaneous(optax.sgd(0.01)), (x0, game.initial_multipliers(x0)),
    ...                steps=4000)
    >>> x, (lam, _) = sol.trajectory
    >>> print(f"{x[2000:].mean():.2f} {lam[2000:].mean():.1f}")  # x* = 1, lam* = 2
    1.00 2.0

    ```

    **References:** Cotter, Jiang, Sridharan (2019), *Two-player games for efficient non-convex
    constrained optimization*, ALT; Cotter, Jiang, Gupta, Wang, Narayan, You, Sridharan (2019),
    *Optimization with non-differentiable constraints with applications to fairness, recall,
    churn, and other goals*, JMLR.
    """

    objective: Callable
    inequality: Callable | None
    equality: Callable | None
    proxy_inequality: Callable | None
    proxy_equality: Callable | None

    # Checked in `__init__`, with clearer messages than a type checker's.
    def __init__(
        self, objective, inequality=None, equality=None, proxy_inequality=None, proxy_equality=None
    ):
        _check_constraints(objective, {"inequality": inequality, "equality": equality})
        if proxy_inequality is None and proxy_equality is None:
            raise ValueError(
                "A ProxyLagrangian needs a proxy: give `proxy_inequality` or `proxy_equality`. "
                "Without proxies, use games.Lagrangian."
            )
        for name, proxy, fn in (
            ("inequality", proxy_inequality, inequality),
            ("equality", proxy_equality, equality),
        ):
            if proxy is not None:
                check_callable(f"proxy_{name}", proxy)
                if fn is None:
                    raise ValueError(
                        f"`proxy_{name}` is given, but `{name}`, its constraint, is not."
                    )
        self.objective = objective
        self.inequality = inequality
        self.equality = equality
        self.proxy_inequality = proxy_inequality
        self.proxy_equality = proxy_equality
        self.project = (None, project_multipliers)

    def proxies(self, x: PyTree, args: Any = None) -> Multipliers:
        """The values `(g~(x), h~(x))` `x` sees: each constraint's proxy, or the constraint itself
        where it has none (`None` for a missing constraint)."""
        true = self.constraints(x, args)
        pairs = (
            ("proxy_inequality", self.proxy_inequality, true[0]),
            ("proxy_equality", self.proxy_equality, true[1]),
        )
        out = []
        for name, proxy, values in pairs:
            if proxy is None:
                out.append(values)
                continue
            value = _constraint_values(name, proxy, x, args)
            if value.shape != values.shape:
                raise ValueError(
                    f"`{name}(x, args)` has shape {value.shape}, but its constraint has shape "
                    f"{values.shape}; a proxy stands for its constraint, value by value."
                )
            out.append(value)
        return tuple(out)

    def losses(self, players, args=None, key=None):
        x, y = players
        f = self._objective(x, args)
        return f + self._price(y, self.proxies(x, args)), -(
            f + self._price(y, self.constraints(x, args))
        )

    def field(self, params, static, args=None, key=None):
        def proxy_lagrangian(px):
            x, y = eqx.combine((px, params[1]), static)
            return self._objective(x, args) + self._price(y, self.proxies(x, args))

        x = eqx.combine(params[0], static[0])
        grad_x = jax.grad(proxy_lagrangian)(params[0])
        # The multipliers' gradient of -(f + lam . g + nu . h): minus the true constraints.
        values = self.constraints(x, args)
        grad_y = tuple(
            None if m is None else -v.astype(m.dtype)
            for m, v in zip(self._multipliers(params[1]), values, strict=True)
        )
        return grad_x, grad_y
