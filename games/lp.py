"""Linear programs in standard form as saddle-point problems, as PDLP solves them."""

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, PRNGKeyArray, Scalar

import minimax as mx

from ._common import as_float

_RUIZ_ITERATIONS = 10  # PDLP's default preconditioner: 10 Ruiz passes, then Pock-Chambolle


def _vector(name: str, value, size: int, why: str) -> Float[Array, " k"]:
    value = jnp.asarray(value)
    if not jnp.issubdtype(value.dtype, jnp.inexact):
        value = value.astype(jnp.result_type(float))
    if value.shape != (size,):
        raise ValueError(f"`{name}` must have shape ({size},) {why}, got shape {value.shape}.")
    return value


def _safe_sqrt(v):
    """`sqrt(v)`, with 1 where `v` is 0 (an empty row or column is left unscaled)."""
    return jnp.sqrt(jnp.where(v > 0, v, 1))


def equilibrate(A: Float[Array, "m n"]) -> tuple[Float[Array, " m"], Float[Array, " n"]]:
    r"""Diagonal scalings `(row, col)` such that `diag(row) A diag(col)` is well balanced: ten
    passes of Ruiz's equilibration (each divides every row and column by the square root of its
    largest entry, in absolute value), then one of Pock and Chambolle's with $\alpha = 1$
    (divide by the square roots of the rows' and columns' absolute sums), after which the scaled
    matrix has spectral norm at most 1. PDLP's default (Applegate et al. 2021, Section 3.4)."""
    row = jnp.ones(A.shape[0], A.dtype)
    col = jnp.ones(A.shape[1], A.dtype)
    for _ in range(_RUIZ_ITERATIONS):
        scaled = jnp.abs(row[:, None] * A * col[None, :])
        row = row / _safe_sqrt(scaled.max(axis=1))
        col = col / _safe_sqrt(scaled.max(axis=0))
    scaled = jnp.abs(row[:, None] * A * col[None, :])
    return row / _safe_sqrt(scaled.sum(axis=1)), col / _safe_sqrt(scaled.sum(axis=0))


class LinearProgram(mx.AbstractZeroSumGame):
    r"""A linear program in standard form,

    $$\min_{x \in \mathbb{R}^n}\ c^\top x \quad \text{s.t.}\quad A x = b,\ x \ge 0,$$

    as the saddle-point problem of its Lagrangian (the formulation PDLP solves, Applegate et al.
    2021):

    $$\min_{x \ge 0}\ \max_{y \in \mathbb{R}^m}\ L(x, y) = c^\top x - y^\top (A x - b).$$

    Player 0 is the primal `x`, kept non-negative by the game's projection
    (`optax.projections.projection_non_negative`, which every solver applies); player 1 is the
    dual `y`, free. The saddle points are exactly the primal-dual optimal pairs: `x` optimal for
    the LP and `y` optimal for its dual, $\max_y b^\top y$ s.t. $A^\top y \le c$. The game's
    field is $F(x, y) = (c - A^\top y,\ A x - b)$: projected gradient descent-ascent on it is the
    primal-dual hybrid gradient method (PDHG) without its extrapolation, which
    [`minimax.Alternating`][] with `optax.sgd` comes close to. The field's Lipschitz constant is
    $\|A\|_2$, so step sizes must be below about $1 / \|A\|_2$.

    **Rescaling.** `rescale=True` plays the game in diagonally rescaled variables
    $x = D_c \tilde x$, $y = D_r \tilde y$, with $(D_r, D_c)$ from [`games.lp.equilibrate`][]
    (PDLP's default: Ruiz equilibration, then Pock-Chambolle). The players are then
    $(\tilde x, \tilde y)$, the LP with data $(D_c c,\ D_r A D_c,\ D_r b)$, whose matrix has
    spectral norm at most 1 (so a step size of 0.5 is safe for the optimistic and
    extra-gradient methods); $\tilde x \ge 0$ exactly when $x \ge 0$. Map players between the
    two with [`games.LinearProgram.scale`][] and [`games.LinearProgram.unscale`][]. The value,
    the residuals, the gap and `equilibrium` all speak of the original LP: only the players'
    coordinates change. With `rescale=False` (default) the two maps are the identity.

    **Measures of progress** (PDLP's relative termination criteria, with Euclidean norms), all
    functions of the game's players and valid under `jit` and `vmap`:

    - [`games.LinearProgram.relative_primal_residual`][]:
      $\|(A x - b,\ \min(x, 0))\| / (1 + \|b\|)$;
    - [`games.LinearProgram.relative_dual_residual`][]:
      $\|\min(0,\ c - A^\top y)\| / (1 + \|c\|)$;
    - [`games.LinearProgram.duality_gap`][]:
      $|c^\top x - b^\top y| / (1 + |c^\top x| + |b^\top y|)$;
    - [`games.LinearProgram.kkt_error`][]: the largest of the three.

    **Arguments:**

    - `c`: the `(n,)` cost vector.
    - `A`: the `(m, n)` constraint matrix.
    - `b`: the `(m,)` right-hand side.
    - `rescale`: whether to play in diagonally rescaled variables (above); keyword only.
    - `solution`: a known optimal pair `(x*, y*)` of the original LP, optional (keyword only):
      then `equilibrium()` returns it (in the game's variables). [`games.LinearProgram.random`][]
      sets it.

    ```python
    >>> import jax.numpy as jnp, games
    >>> # min x1 + 2 x2 s.t. x1 + x2 = 1, x >= 0: x* = (1, 0), y* = 1.
    >>> lp = games.LinearProgram(c=[1.0, 2.0], A=[[1.0, 1.0]], b=[1.0])
    >>> optimum = (jnp.array([1.0, 0.0]), jnp.array([1.0]))
    >>> print(lp.kkt_error(optimum))
    0.0

    ```

    **References:** Applegate, Díaz, Hinder, Lu, Lubin, O'Donoghue, Schudy (2021), *Practical
    large-scale linear programming using primal-dual hybrid gradient*, NeurIPS; Pock, Chambolle
    (2011), *Diagonal preconditioning for first order primal-dual algorithms in convex
    optimization*, ICCV; Ruiz (2001), *A scaling algorithm to equilibrate both rows and columns
    norms in matrices*.
    """

    c: Float[Array, " n"]
    A: Float[Array, "m n"]
    b: Float[Array, " m"]
    row_scale: Float[Array, " m"]
    col_scale: Float[Array, " n"]
    solution: tuple[Float[Array, " n"], Float[Array, " m"]] | None
    rescale: bool = eqx.field(static=True)

    def __init__(self, c, A, b, *, rescale=False, solution=None):
        A = jnp.asarray(A)
        if A.ndim != 2:
            raise ValueError(
                f"`A` must be a 2-D `(m, n)` matrix (m constraints, n variables), got shape "
                f"{A.shape}."
            )
        self.A = as_float("A", A, 2)
        m, n = self.A.shape
        self.c = _vector("c", c, n, f"(one cost per column of A, of shape {self.A.shape})")
        self.b = _vector("b", b, m, f"(one value per row of A, of shape {self.A.shape})")
        dtype = jnp.result_type(self.A, self.b, self.c)
        self.A, self.b, self.c = (v.astype(dtype) for v in (self.A, self.b, self.c))
        if not isinstance(rescale, bool):
            raise TypeError(f"`rescale` must be True or False, got {rescale!r}.")
        self.rescale = rescale
        if rescale:
            self.row_scale, self.col_scale = equilibrate(self.A)
        else:
            self.row_scale, self.col_scale = jnp.ones(m, dtype), jnp.ones(n, dtype)
        if solution is not None:
            if not isinstance(solution, tuple | list) or len(solution) != 2:
                raise TypeError(f"`solution` must be a pair `(x*, y*)`, got {solution!r}.")
            solution = (
                _vector("solution[0]", solution[0], n, "(x*: one value per column of A)"),
                _vector("solution[1]", solution[1], m, "(y*: one value per row of A)"),
            )
        self.solution = solution
        self.project = (optax.projections.projection_non_negative, None)

    def _check(self, players):
        if not isinstance(players, tuple | list) or len(players) != 2:
            raise TypeError(f"`players` must be a pair `(x, y)`, got {type(players).__name__}.")
        m, n = self.A.shape
        for i, (name, size) in enumerate((("x", n), ("y", m))):
            shape = jnp.shape(players[i])
            if shape != (size,):
                raise ValueError(
                    f"`players[{i}]` ({name}) must have shape ({size},) since A has shape "
                    f"{self.A.shape}, got {shape}."
                )

    def scale(self, players) -> tuple[Float[Array, " n"], Float[Array, " m"]]:
        """The game's players for the original LP's `(x, y)`: $(D_c^{-1} x, D_r^{-1} y)$, the
        identity unless `rescale=True`. Use it to start a run from a given point."""
        self._check(players)
        x, y = players
        return x / self.col_scale.astype(x.dtype), y / self.row_scale.astype(y.dtype)

    def unscale(self, players) -> tuple[Float[Array, " n"], Float[Array, " m"]]:
        """The original LP's `(x, y)` for the game's players: $(D_c \\tilde x, D_r \\tilde y)$,
        the identity unless `rescale=True`."""
        self._check(players)
        x, y = players
        return x * self.col_scale.astype(x.dtype), y * self.row_scale.astype(y.dtype)

    def value(self, x, y, args=None, key=None) -> Scalar:
        x, y = self.unscale((x, y))
        c, A, b = (v.astype(x.dtype) for v in (self.c, self.A, self.b))
        return c @ x - y @ (A @ x - b.astype(y.dtype))

    def objective(self, players) -> Scalar:
        """The primal objective $c^\\top x$ (original variables)."""
        x, _ = self.unscale(players)
        return self.c.astype(x.dtype) @ x

    def _parts(self, players):
        x, y = self.unscale(players)
        c, A, b = (v.astype(x.dtype) for v in (self.c, self.A, self.b))
        return x, y, c, A, b

    def relative_primal_residual(self, players) -> Scalar:
        r"""$\|(A x - b,\ \min(x, 0))\|_2 / (1 + \|b\|_2)$: how far `x` is from feasible. The
        second part, the bound's violation, is zero for the projected iterates of a solver."""
        x, _, _, A, b = self._parts(players)
        residual = jnp.concatenate([A @ x - b, jnp.minimum(x, 0)])
        return jnp.linalg.norm(residual) / (1 + jnp.linalg.norm(b))

    def relative_dual_residual(self, players) -> Scalar:
        r"""$\|\min(0,\ c - A^\top y)\|_2 / (1 + \|c\|_2)$: how far `y` is from dual feasible,
        $A^\top y \le c$. PDLP's dual residual for bounds $x \ge 0$: the reduced costs
        $c - A^\top y$ may be any non-negative vector, and only their negative part is an
        error."""
        _, y, c, A, _ = self._parts(players)
        return jnp.linalg.norm(jnp.minimum(0, c - A.T @ y)) / (1 + jnp.linalg.norm(c))

    def duality_gap(self, players) -> Scalar:
        r"""$|c^\top x - b^\top y| / (1 + |c^\top x| + |b^\top y|)$: the relative gap between the
        primal and dual objectives (zero at an optimal pair)."""
        x, y, c, _, b = self._parts(players)
        primal, dual = c @ x, b @ y
        return jnp.abs(primal - dual) / (1 + jnp.abs(primal) + jnp.abs(dual))

    def kkt_error(self, players) -> Scalar:
        """The largest of the relative primal residual, the relative dual residual and the
        relative duality gap: at most `eps` exactly when PDLP's relative termination criteria
        with tolerance `eps` hold. Zero exactly at a primal-dual optimal pair."""
        return jnp.maximum(
            jnp.maximum(
                self.relative_primal_residual(players), self.relative_dual_residual(players)
            ),
            self.duality_gap(players),
        )

    def equilibrium(self, near=None) -> tuple[Float[Array, " n"], Float[Array, " m"]]:
        """The optimal pair `(x*, y*)` given as `solution` (in the game's variables: rescaled if
        `rescale=True`), e.g. by [`games.LinearProgram.random`][].

        A linear program has no closed-form solution: without a `solution` this raises
        `NotImplementedError`. Solve it with a simplex or interior-point code, e.g.
        `scipy.optimize.linprog(c, A_eq=A, b_eq=b, method="highs")`, whose `x` and
        `eqlin.marginals` are `(x*, y*)` in this sign convention, or with a long run of a solver.
        """
        if self.solution is None:
            raise NotImplementedError(
                "A LinearProgram has no closed-form solution. Solve it with a simplex or "
                "interior-point code, e.g. "
                'scipy.optimize.linprog(c, A_eq=A, b_eq=b, method="highs")'
                " (x* = res.x, y* = res.eqlin.marginals), and pass it as `solution=(x*, y*)`; or "
                "run a solver and check `kkt_error`."
            )
        return self.scale(self.solution)

    @classmethod
    def random(
        cls,
        key: PRNGKeyArray,
        m: int,
        n: int,
        *,
        rescale: bool = False,
        dtype=None,
    ) -> "LinearProgram":
        r"""A random feasible, bounded LP with a known, unique optimum, set as its `solution`.

        `A` has standard normal entries. A random set of `m` columns is the optimal basis: the
        optimum $x^*$ is positive on it (uniform in $[0.5, 1.5]$) and zero elsewhere, the dual
        optimum $y^*$ is standard normal, and the reduced costs $s^* = c - A^\top y^*$ are zero
        on the basis and uniform in $[0.5, 1.5]$ off it. Then $b = A x^*$ and
        $c = A^\top y^* + s^*$: $x^*$ is feasible, $y^*$ is dual feasible and the two are
        complementary, so both are optimal; strict complementarity and a non-singular basis
        make them unique. The basis is a random set of columns of a Gaussian matrix, so its
        conditioning varies from instance to instance (now and then into the thousands), and
        with it how many steps a first-order method needs.

        **Arguments:**

        - `key`: a JAX PRNG key.
        - `m`, `n`: constraints and variables, `1 <= m <= n`.
        - `rescale`: as in the constructor.
        - `dtype`: floating dtype of the LP; JAX's default float if omitted.
        """
        if not (isinstance(m, int) and isinstance(n, int) and 1 <= m <= n):
            raise ValueError(
                f"`m` and `n` must be ints with 1 <= m <= n (the basis has m columns), got "
                f"m = {m!r} and n = {n!r}."
            )
        dtype = jnp.result_type(float) if dtype is None else dtype
        ka, kb, kx, ky, ks = jax.random.split(key, 5)
        A = jax.random.normal(ka, (m, n), dtype)
        basic = jnp.zeros(n, bool).at[jax.random.permutation(kb, n)[:m]].set(True)
        x_star = jnp.where(basic, jax.random.uniform(kx, (n,), dtype, 0.5, 1.5), 0)
        s_star = jnp.where(basic, 0, jax.random.uniform(ks, (n,), dtype, 0.5, 1.5))
        y_star = jax.random.normal(ky, (m,), dtype)
        return cls(A.T @ y_star + s_star, A, A @ x_star, rescale=rescale, solution=(x_star, y_star))
