"""Linear programs in general form as saddle-point problems, as PDLP solves them; an MPS reader."""

import os
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import sparse
from jaxtyping import Array, Bool, Float, PRNGKeyArray, Scalar

import minimax as mx
from minimax import SaddleForm, equilibrate as equilibrate
from minimax.checks import check_int, check_scalar, is_concrete

Matrix = Any  # a dense `(m, n)` array or a `jax.experimental.sparse.BCOO`


# Matrices: dense arrays or BCOO, read the same way.


def _is_sparse(M) -> bool:
    return isinstance(M, sparse.BCOO)


def _as_matrix(name: str, value, n: int | None, dtype) -> Matrix:
    """`value` (array-like, BCOO or a scipy.sparse matrix) as a floating `(k, n)` dense array or
    BCOO, checked finite when concrete."""
    if hasattr(value, "tocoo") and not _is_sparse(value):  # scipy.sparse, without importing it
        coo = value.tocoo()
        indices = np.stack([coo.row, coo.col], axis=1).astype(np.int32)
        value = sparse.BCOO((jnp.asarray(coo.data), jnp.asarray(indices)), shape=coo.shape)
    if _is_sparse(value):
        if value.ndim != 2 or value.n_batch or value.n_dense:
            raise ValueError(
                f"`{name}` must be a 2-D BCOO matrix without batch or dense dimensions, got "
                f"shape {value.shape} (n_batch={value.n_batch}, n_dense={value.n_dense})."
            )
        data = value.data
        if not jnp.issubdtype(data.dtype, jnp.inexact):
            data = data.astype(dtype)
        _check_finite(name, data)
        value = sparse.BCOO((data, value.indices), shape=value.shape)
    else:
        try:
            value = jnp.asarray(value)
        except (TypeError, ValueError):
            raise TypeError(
                f"`{name}` must be a 2-D array, a jax.experimental.sparse.BCOO or a scipy.sparse "
                f"matrix, got {type(value).__name__}."
            ) from None
        if not jnp.issubdtype(value.dtype, jnp.inexact):
            value = value.astype(dtype)
        if value.ndim != 2:
            raise ValueError(
                f"`{name}` must be a 2-D `(rows, n)` matrix (one column per variable), got shape "
                f"{value.shape}."
            )
        _check_finite(name, value)
    if n is not None and value.shape[1] != n:
        raise ValueError(
            f"`{name}` must have one column per variable, {n} (the length of `c`), got shape "
            f"{value.shape}."
        )
    return value


def _check_finite(name: str, value) -> None:
    if is_concrete(value) and not bool(np.all(np.isfinite(np.asarray(value)))):
        raise ValueError(f"`{name}` must be finite, but it holds NaN or inf.")


def _vector(name: str, value, size: int, why: str, dtype, *, finite=True) -> Float[Array, " k"]:
    value = jnp.asarray(value)
    if not jnp.issubdtype(value.dtype, jnp.inexact):
        value = value.astype(dtype)
    if value.ndim == 0 and size > 0 and name in ("lower", "upper"):
        value = jnp.full(size, value)
    if value.shape != (size,):
        raise ValueError(f"`{name}` must have shape ({size},) {why}, got shape {value.shape}.")
    if finite:
        _check_finite(name, value)
    elif is_concrete(value) and bool(np.any(np.isnan(np.asarray(value)))):
        raise ValueError(f"`{name}` must not hold NaN (+-inf is allowed).")
    return value


def _stack(top: Matrix, bottom: Matrix) -> Matrix:
    """`[top; bottom]`, sparse when either is."""
    if _is_sparse(top) or _is_sparse(bottom):
        parts = [M if _is_sparse(M) else sparse.BCOO.fromdense(M) for M in (top, bottom)]
        return sparse.bcoo_concatenate(parts, dimension=0)
    return jnp.concatenate([top, bottom], axis=0)


class LinearProgram(mx.AbstractZeroSumGame):
    r"""A linear program in general form,

    $$\min_{x \in \mathbb{R}^n}\ c^\top x + c_0 \quad \text{s.t.}\quad A x = b,\quad
    G x \ge h,\quad l \le x \le u,$$

    as the saddle-point problem of its Lagrangian (the formulation PDLP solves, Applegate et al.
    2021): with $K = \begin{pmatrix} A \\ G \end{pmatrix}$ and $q = (b, h)$,

    $$\min_{l \le x \le u}\ \max_{y \in Y}\ L(x, y) = c^\top x + c_0 - y^\top (K x - q),
    \qquad Y = \{y : y_G \ge 0\}$$

    (the multipliers of the equalities are free, those of the inequalities non-negative).
    Player 0 is the primal `x`, kept in its box by the game's projection, which every solver
    applies; player 1 is the dual `y`, of length `m` = rows of `A` + rows of `G`. The saddle
    points are exactly the primal-dual optimal pairs. [`minimax.PDHG`][] solves it with PDLP's
    rules; `lp.init_players()` is its usual start.

    Bounds may be infinite (`lower=-jnp.inf` for a free variable); `A` and `G` may be dense or
    sparse (`jax.experimental.sparse.BCOO`, or any scipy.sparse matrix, converted). Every
    measure speaks of the LP as written: `objective` includes $c_0$, and the residuals, the gap
    and `kkt_error` are PDLP's relative criteria for it.

    **Rescaling.** `rescale=True` plays the game in diagonally rescaled variables
    $x = D_c \tilde x$, $y = D_r \tilde y$, with $(D_r, D_c)$ from [`minimax.equilibrate`][]
    (Ruiz equilibration, then Pock-Chambolle) applied to `K`, so that fixed-step solvers such
    as OGDA see a matrix of spectral norm at most 1. Map players with
    [`games.LinearProgram.scale`][] and [`games.LinearProgram.unscale`][]. Every measure still
    speaks of the original LP. [`minimax.PDHG`][] rescales by itself and needs no
    `rescale=True`.

    **Measures of progress** (PDLP's relative termination criteria, Euclidean norms; with
    $r = c - K^\top y$ the reduced costs, split into $r^+$ and $r^-$ where the matching bound
    is finite, and the rest $r - r^+ - r^-$ a dual infeasibility):

    - [`games.LinearProgram.relative_primal_residual`][]:
      $\|(A x - b,\ (h - G x)^+,\ x - \Pi_{[l, u]}(x))\| / (1 + \|q\|)$;
    - [`games.LinearProgram.relative_dual_residual`][]:
      $\|(r - r^+ - r^-,\ y_G^-)\| / (1 + \|c\|)$;
    - [`games.LinearProgram.duality_gap`][]: $|p - d| / (1 + |p| + |d|)$ for the primal
      objective $p = c^\top x + c_0$ and the dual objective
      $d = q^\top y + c_0 + l^\top r^+ - u^\top r^-$;
    - [`games.LinearProgram.kkt_error`][]: the largest of the three.

    **Arguments:**

    - `c`: the `(n,)` cost vector.
    - `A`, `b`: the equality constraints `A x = b`, `A` of shape `(m_A, n)`; optional (both or
      neither).
    - `G`, `h`: the inequality constraints `G x >= h`, `G` of shape `(m_G, n)`; optional (both
      or neither).
    - `lower`, `upper`: the bounds on `x`, scalars or `(n,)` vectors, `+-inf` allowed; default
      `x >= 0`.
    - `objective_constant`: $c_0$ (keyword only).
    - `rescale`: play in diagonally rescaled variables (above); keyword only.
    - `solution`: a known optimal pair `(x*, y*)` of the original LP, optional (keyword only),
      checked to have a KKT error near 0; `equilibrium()` returns it.

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
    K: Matrix
    q: Float[Array, " m"]
    lower: Float[Array, " n"]
    upper: Float[Array, " n"]
    objective_constant: Float[Array, ""]
    row_scale: Float[Array, " m"]
    col_scale: Float[Array, " n"]
    solution: tuple[Float[Array, " n"], Float[Array, " m"]] | None
    n_equalities: int = eqx.field(static=True)
    rescale: bool = eqx.field(static=True)

    def __init__(
        self,
        c,
        A=None,
        b=None,
        G=None,
        h=None,
        lower=0.0,
        upper=None,
        *,
        objective_constant=0.0,
        rescale=False,
        solution=None,
    ):
        c = jnp.asarray(c)
        if c.ndim != 1:
            raise ValueError(f"`c` must be a vector, one cost per variable, got shape {c.shape}.")
        n = c.shape[0]
        if n == 0:
            raise ValueError("`c` must have at least one entry: an LP needs a variable.")
        dtype = c.dtype if jnp.issubdtype(c.dtype, jnp.inexact) else jnp.result_type(float)
        blocks = []
        for M_name, v_name, M, v in (("A", "b", A, b), ("G", "h", G, h)):
            if (M is None) != (v is None):
                given, missing = (M_name, v_name) if v is None else (v_name, M_name)
                raise ValueError(f"`{given}` was given without `{missing}`: give both or neither.")
            if M is None:
                M, v = jnp.zeros((0, n), dtype), jnp.zeros(0, dtype)
            M = _as_matrix(M_name, M, n, dtype)
            why = f"(one value per row of {M_name}, of shape {M.shape})"
            blocks.append((M, _vector(v_name, v, M.shape[0], why, dtype)))
        (A, b), (G, h) = blocks
        self.n_equalities = A.shape[0]
        dtype = jnp.result_type(c, b, h, A.dtype, G.dtype)
        K = _stack(A, G)
        self.K = (
            K.astype(dtype)
            if not _is_sparse(K)
            else sparse.BCOO((K.data.astype(dtype), K.indices), shape=K.shape)
        )
        self.c = _vector("c", c, n, "(one cost per variable)", dtype).astype(dtype)
        self.q = jnp.concatenate([b, h]).astype(dtype)
        why = f"(one bound per variable, {n})"
        upper = jnp.inf if upper is None else upper
        self.lower = _vector("lower", lower, n, why, dtype, finite=False).astype(dtype)
        self.upper = _vector("upper", upper, n, why, dtype, finite=False).astype(dtype)
        if is_concrete(self.lower) and is_concrete(self.upper):
            lo, up = np.asarray(self.lower), np.asarray(self.upper)
            bad = np.flatnonzero((lo > up) | (lo == np.inf) | (up == -np.inf))
            if bad.size:
                i = int(bad[0])
                raise ValueError(
                    f"The bounds must satisfy -inf <= lower <= upper <= inf with lower < inf "
                    f"and upper > -inf, but variable {i} has lower = {lo[i]} and upper = "
                    f"{up[i]}."
                )
        check_scalar("objective_constant", objective_constant)
        self.objective_constant = jnp.asarray(objective_constant, dtype)
        if not isinstance(rescale, bool):
            raise TypeError(f"`rescale` must be True or False, got {rescale!r}.")
        self.rescale = rescale
        m = self.K.shape[0]
        if rescale:
            self.row_scale, self.col_scale = equilibrate(self.K)
        else:
            self.row_scale, self.col_scale = jnp.ones(m, dtype), jnp.ones(n, dtype)
        self.solution = None
        if solution is not None:
            if not isinstance(solution, tuple | list) or len(solution) != 2:
                raise TypeError(f"`solution` must be a pair `(x*, y*)`, got {solution!r}.")
            solution = (
                _vector("solution[0]", solution[0], n, "(x*: one value per variable)", dtype),
                _vector("solution[1]", solution[1], m, "(y*: one value per row of A and G)", dtype),
            )
            self._check_optimal(solution)
        self.solution = solution

    def _check_optimal(self, solution) -> None:
        """Refuse a `solution` that is not optimal (when it and the data are concrete)."""
        leaves = (self.c, self.q, self.K.data if _is_sparse(self.K) else self.K, *solution)
        if not all(is_concrete(a) for a in leaves):
            return
        error = float(self.kkt_error(self.scale(solution)))
        tol = 10 * float(np.sqrt(np.finfo(self.c.dtype).eps))
        if not error <= tol:
            raise ValueError(
                f"`solution` is not an optimal pair of this LP: its KKT error is {error:.3g}, "
                f"not 0 (tolerance {tol:.1g})."
            )

    # The data as written.

    @property
    def A(self) -> Matrix:
        """The equality constraints' matrix (the first `n_equalities` rows of `K`)."""
        return self.K[: self.n_equalities]

    @property
    def b(self) -> Float[Array, " m_A"]:
        return self.q[: self.n_equalities]

    @property
    def G(self) -> Matrix:
        """The inequality constraints' matrix (the rows of `K` after the equalities)."""
        return self.K[self.n_equalities :]

    @property
    def h(self) -> Float[Array, " m_G"]:
        return self.q[self.n_equalities :]

    @property
    def inequality(self) -> Bool[Array, " m"]:
        """Which rows of `K` are inequalities (their multipliers are `>= 0`)."""
        m = self.K.shape[0]
        return jnp.arange(m) >= self.n_equalities

    def init_players(self) -> tuple[Float[Array, " n"], Float[Array, " m"]]:
        """The usual start, in the game's variables: `x = 0` projected into the bounds, `y = 0`."""
        x = jnp.clip(jnp.zeros_like(self.c), self.lower, self.upper)
        return self.scale((x, jnp.zeros_like(self.q)))

    def saddle_form(self, args: Any = None) -> SaddleForm:
        """The game as [`minimax.PDHG`][] reads it: the LP as written ($c$, $K$, $q$, $c_0$, the
        box of `x`, which multipliers are non-negative) and the scalings of the game's
        variables."""
        return SaddleForm(
            c=self.c,
            K=self.K,
            q=self.q,
            constant=self.objective_constant,
            lower=self.lower,
            upper=self.upper,
            nonnegative=self.inequality,
            col_scale=self.col_scale,
            row_scale=self.row_scale,
        )

    # The game.

    def _check(self, players):
        if not isinstance(players, tuple | list) or len(players) != 2:
            raise TypeError(f"`players` must be a pair `(x, y)`, got {type(players).__name__}.")
        m, n = self.K.shape
        for i, (name, size) in enumerate((("x", n), ("y", m))):
            shape = jnp.shape(players[i])
            if shape != (size,):
                raise ValueError(
                    f"`players[{i}]` ({name}) must have shape ({size},) since the LP has {n} "
                    f"variables and {m} constraints, got {shape}."
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

    def project_player(self, player: int, value):
        """`x` clipped into its bounds; `y` with its inequality multipliers made `>= 0`."""
        if player == 0:
            lower, upper = self.lower / self.col_scale, self.upper / self.col_scale
            return jnp.clip(value, lower.astype(value.dtype), upper.astype(value.dtype))
        return jnp.where(self.inequality, jnp.maximum(value, 0), value)

    def value(self, x, y, args=None, key=None) -> Scalar:
        x, y = self.unscale((x, y))
        return self.objective((x, y), scaled=False) - y @ (self.K @ x - self.q.astype(y.dtype))

    # Measures of progress, for the original LP.

    def objective(self, players, *, scaled=True) -> Scalar:
        """The primal objective $c^\\top x + c_0$."""
        x, _ = self.unscale(players) if scaled else players
        return self.c.astype(x.dtype) @ x + self.objective_constant

    def _reduced_costs(self, y):
        r = self.c - self.K.T @ y
        finite_lower, finite_upper = jnp.isfinite(self.lower), jnp.isfinite(self.upper)
        plus = jnp.where(finite_lower, jnp.maximum(r, 0), 0)
        minus = jnp.where(finite_upper, jnp.minimum(r, 0), 0)
        return plus, minus, r - plus - minus

    def dual_objective(self, players) -> Scalar:
        r"""The dual objective $q^\top y + c_0 + l^\top r^+ - u^\top r^-$ of `y` (reduced costs
        $r = c - K^\top y$ paid at the finite bounds)."""
        _, y = self.unscale(players)
        plus, minus, _ = self._reduced_costs(y)
        lower = jnp.where(jnp.isfinite(self.lower), self.lower, 0)
        upper = jnp.where(jnp.isfinite(self.upper), self.upper, 0)
        return self.q @ y + self.objective_constant + lower @ plus + upper @ minus

    def relative_primal_residual(self, players) -> Scalar:
        r"""$\|(A x - b,\ (h - G x)^+,\ x - \Pi_{[l, u]}(x))\|_2 / (1 + \|q\|_2)$: how far `x`
        is from feasible. The last part is zero for the projected iterates of a solver."""
        x, _ = self.unscale(players)
        slack = self.K @ x - self.q
        violation = jnp.where(self.inequality, jnp.minimum(slack, 0), slack)
        outside = x - jnp.clip(x, self.lower, self.upper)
        residual = jnp.concatenate([violation, outside])
        return jnp.linalg.norm(residual) / (1 + jnp.linalg.norm(self.q))

    def relative_dual_residual(self, players) -> Scalar:
        r"""$\|(r - r^+ - r^-,\ \min(y_G, 0))\|_2 / (1 + \|c\|_2)$: how far `y` is from dual
        feasible. A reduced cost may be positive only where `x` has a finite lower bound and
        negative only where it has a finite upper bound; the rest is the error."""
        _, y = self.unscale(players)
        _, _, wrong = self._reduced_costs(y)
        negative = jnp.where(self.inequality, jnp.minimum(y, 0), 0)
        residual = jnp.concatenate([wrong, negative])
        return jnp.linalg.norm(residual) / (1 + jnp.linalg.norm(self.c))

    def duality_gap(self, players) -> Scalar:
        r"""$|p - d| / (1 + |p| + |d|)$ for the primal objective $p$ and the dual objective
        $d$: the relative gap (zero at an optimal pair)."""
        primal, dual = self.objective(players), self.dual_objective(players)
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
        `NotImplementedError`. Solve it with [`minimax.PDHG`][], or a simplex or
        interior-point code (e.g. `scipy.optimize.linprog(..., method="highs")`).
        """
        if self.solution is None:
            raise NotImplementedError(
                "A LinearProgram has no closed-form solution. Solve it with minimax.PDHG, or "
                "with a simplex or interior-point code, e.g. scipy.optimize.linprog(c, A_eq=A, "
                'b_eq=b, method="highs") (x* = res.x, y* = res.eqlin.marginals), and pass it as '
                "`solution=(x*, y*)`."
            )
        return self.scale(self.solution)

    @classmethod
    def random(
        cls,
        key: PRNGKeyArray,
        m: int | np.integer,
        n: int | np.integer,
        *,
        rescale: bool = False,
        dtype=None,
    ) -> "LinearProgram":
        r"""A random feasible, bounded LP in standard form ($A x = b$, $x \ge 0$) with a known,
        unique optimum, set as its `solution`.

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
        - `m`, `n`: constraints and variables, `1 <= m <= n` (Python or NumPy ints).
        - `rescale`: as in the constructor.
        - `dtype`: floating dtype of the LP; JAX's default float if omitted.
        """
        m, n = check_int("m", m), check_int("n", n)
        if m > n:
            raise ValueError(
                f"`m` and `n` must satisfy 1 <= m <= n (the basis has m columns), got m = {m} and "
                f"n = {n}."
            )
        dtype = jnp.result_type(float) if dtype is None else dtype
        ka, kb, kx, ky, ks = jax.random.split(key, 5)
        A = jax.random.normal(ka, (m, n), dtype)
        basic = jnp.zeros(n, bool).at[jax.random.permutation(kb, n)[:m]].set(True)
        x_star = jnp.where(basic, jax.random.uniform(kx, (n,), dtype, 0.5, 1.5), 0)
        s_star = jnp.where(basic, 0, jax.random.uniform(ks, (n,), dtype, 0.5, 1.5))
        y_star = jax.random.normal(ky, (m,), dtype)
        return cls(A.T @ y_star + s_star, A, A @ x_star, rescale=rescale, solution=(x_star, y_star))

    @classmethod
    def from_mps(
        cls, path: str | os.PathLike, *, fixed: bool = False, dense: bool | None = None
    ) -> "LinearProgram":
        """The LP of an MPS file (its LP relaxation: integrality is dropped).

        Read: `NAME`, `ROWS` (`N` the objective, the first one; further `N` rows are dropped;
        `E`, `L`, `G`), `COLUMNS` (with `MARKER` lines), `RHS` (a value on the objective row is
        minus the objective constant, as in HiGHS and CPLEX), `RANGES` (on an `E` row the sign
        of the range says which side it extends; on `L` and `G` rows its magnitude counts) and
        `BOUNDS` of every type: `UP` (a negative upper bound on a variable with lower bound 0
        makes the lower bound `-inf`, the usual convention), `LO`, `FX`, `FR`, `MI`, `PL`, `BV`
        (`[0, 1]`), `LI`, `UI`; `SC` (semi-continuous) is refused. `OBJSENSE MAX` is refused.

        `E` rows become `A x = b`; `G` rows `G x >= h`; `L` rows are negated into `G`;
        a ranged row becomes two rows of `G` (one of `A` if the range is empty).

        **Arguments:**

        - `path`: the file.
        - `fixed`: read fixed-format MPS (fields at fixed columns, names may hold spaces);
          free format (fields split on white space) by default.
        - `dense`: store `K` dense (`True`) or as a BCOO (`False`); by default dense when it
          has at most a million entries.
        """
        return _read_mps(cls, path, fixed=fixed, dense=dense)


# MPS: fields of fixed MPS start at these columns (1-based 2, 5, 15, 25, 40, 50).
_FIXED_FIELDS = ((1, 3), (4, 12), (14, 22), (24, 36), (39, 47), (49, 61))


def _fields(line: str, fixed: bool) -> list[str]:
    if not fixed:
        return line.split()
    fields = [line[a:b].strip() for a, b in _FIXED_FIELDS]
    while fields and not fields[-1]:
        fields.pop()
    return fields


def _number(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"MPS: expected a number {where}, got {text!r}.") from None


def _read_mps(cls, path, *, fixed: bool, dense: bool | None) -> LinearProgram:
    with open(path) as file:
        lines = file.read().splitlines()
    section = None
    objective, kinds, row_index = None, [], {}
    columns, col_index = [], {}
    entries: dict[tuple[int, int], float] = {}
    cost: dict[int, float] = {}
    rhs: dict[int, float] = {}
    ranges: dict[int, float] = {}
    constant = 0.0
    bounds: dict[int, list[float]] = {}
    dropped: set[str] = set()

    def column(name):
        if name not in col_index:
            col_index[name] = len(columns)
            columns.append(name)
        return col_index[name]

    def row(name, number):
        if name == objective:
            return -1
        if name not in row_index:
            raise ValueError(f"MPS line {number}: unknown row {name!r}.")
        return row_index[name]

    for number, raw in enumerate(lines, 1):
        if not raw.strip() or raw.lstrip().startswith("*"):
            continue
        if not raw[0].isspace():  # a section header
            words = raw.split()
            section = words[0].upper()
            if section == "OBJSENSE" and len(words) > 1 and words[1].upper().startswith("MAX"):
                raise ValueError("MPS: OBJSENSE MAX is not supported; negate the objective.")
            if section not in (
                "NAME", "ROWS", "COLUMNS", "RHS", "RANGES", "BOUNDS", "ENDATA", "OBJSENSE",
            ):  # fmt: skip
                raise ValueError(f"MPS line {number}: unknown section {section!r}.")
            if section == "ENDATA":
                break
            continue
        fields = _fields(raw, fixed)
        if fixed and section in ("COLUMNS", "RHS", "RANGES"):
            fields = fields[1:]  # their first field is unused
        if section == "OBJSENSE":
            if fields[0].upper().startswith("MAX"):
                raise ValueError("MPS: OBJSENSE MAX is not supported; negate the objective.")
        elif section == "ROWS":
            kind, name = fields[0].upper(), fields[1]
            if kind == "N":
                if objective is None:
                    objective = name
                else:
                    dropped.add(name)  # further free rows are dropped
                continue
            if kind not in ("E", "L", "G"):
                raise ValueError(f"MPS line {number}: unknown row type {kind!r}.")
            row_index[name] = len(kinds)
            kinds.append(kind)
        elif section == "COLUMNS":
            if len(fields) >= 3 and fields[1].strip("'").upper() == "MARKER":
                continue  # integrality markers: the LP relaxation is read
            j = column(fields[0])
            for name, value in zip(fields[1::2], fields[2::2], strict=False):
                if name in dropped:
                    continue
                i = row(name, number)
                value = _number(value, f"on line {number}")
                if i < 0:
                    cost[j] = cost.get(j, 0.0) + value
                else:
                    entries[i, j] = entries.get((i, j), 0.0) + value
        elif section in ("RHS", "RANGES"):
            pairs = fields[1:] if len(fields) % 2 else fields  # the set's name is optional
            for name, value in zip(pairs[0::2], pairs[1::2], strict=True):
                if name in dropped:
                    continue
                value = _number(value, f"on line {number}")
                i = row(name, number)
                if section == "RANGES":
                    if i >= 0:
                        ranges[i] = value
                elif i < 0:
                    constant = -value
                else:
                    rhs[i] = value
        elif section == "BOUNDS":
            kind = fields[0].upper()
            if kind == "SC":
                raise ValueError(
                    f"MPS line {number}: semi-continuous bounds (SC) are not supported: an LP "
                    "cannot express them."
                )
            if kind in ("FR", "MI", "PL", "BV"):
                name, value = fields[2] if len(fields) > 2 else fields[1], None
            else:
                if len(fields) < 4:  # without a bound set's name
                    fields = [fields[0], "", *fields[1:]]
                name, value = fields[2], _number(fields[3], f"on line {number}")
            if name not in col_index:
                raise ValueError(f"MPS line {number}: unknown column {name!r}.")
            bound = bounds.setdefault(col_index[name], [0.0, np.inf])
            if kind == "UP" or kind == "UI":
                if value < 0 and bound[0] == 0:
                    bound[0] = -np.inf
                bound[1] = value
            elif kind in ("LO", "LI"):
                bound[0] = value
            elif kind == "FX":
                bound[:] = [value, value]
            elif kind == "FR":
                bound[:] = [-np.inf, np.inf]
            elif kind == "MI":
                bound[0] = -np.inf
            elif kind == "PL":
                bound[1] = np.inf
            elif kind == "BV":
                bound[:] = [0.0, 1.0]
            else:
                raise ValueError(f"MPS line {number}: unknown bound type {kind!r}.")
        elif section is None or section == "NAME":
            raise ValueError(f"MPS line {number}: data before a section header.")
    if objective is None:
        raise ValueError("MPS: no objective row (a row of type N).")
    n = len(columns)
    if n == 0:
        raise ValueError("MPS: no columns.")
    # Each constraint row as one or two rows `sign * a' x (= or >=) value`.
    out_rows: list[tuple[int, float, float, bool]] = []  # (source row, sign, value, equality)
    for i, kind in enumerate(kinds):
        b = rhs.get(i, 0.0)
        if i in ranges:
            r = ranges[i]
            low, high = {
                "E": (b, b + r) if r >= 0 else (b + r, b),
                "L": (b - abs(r), b),
                "G": (b, b + abs(r)),
            }[kind]
            if low == high:
                out_rows.append((i, 1.0, low, True))
            else:
                out_rows += [(i, 1.0, low, False), (i, -1.0, -high, False)]
        elif kind == "E":
            out_rows.append((i, 1.0, b, True))
        elif kind == "G":
            out_rows.append((i, 1.0, b, False))
        else:
            out_rows.append((i, -1.0, -b, False))
    out_rows.sort(key=lambda r: not r[3])  # equalities first
    by_source: dict[int, list[tuple[int, float]]] = {}
    for k, (i, sign, _, _) in enumerate(out_rows):
        by_source.setdefault(i, []).append((k, sign))
    rows, cols, data = [], [], []
    for (i, j), value in entries.items():
        for k, sign in by_source.get(i, ()):
            rows.append(k)
            cols.append(j)
            data.append(sign * value)
    m = len(out_rows)
    if dense is None:
        dense = m * n <= 1_000_000
    if dense:
        K = np.zeros((m, n))
        np.add.at(K, (np.asarray(rows, int), np.asarray(cols, int)), data)
        K = jnp.asarray(K)
    else:
        indices = np.stack([np.asarray(rows, np.int32), np.asarray(cols, np.int32)], axis=1)
        K = sparse.BCOO((jnp.asarray(np.asarray(data)), jnp.asarray(indices)), shape=(m, n))
    q = np.asarray([value for _, _, value, _ in out_rows])
    c = np.zeros(n)
    for j, value in cost.items():
        c[j] = value
    lower, upper = np.zeros(n), np.full(n, np.inf)
    for j, (lo, up) in bounds.items():
        lower[j], upper[j] = lo, up
    m_eq = sum(1 for r in out_rows if r[3])
    return cls(
        c,
        K[:m_eq],
        q[:m_eq],
        K[m_eq:],
        q[m_eq:],
        lower,
        upper,
        objective_constant=constant,
    )
