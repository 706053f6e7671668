"""Zero-sum matrix games: mixed strategies on probability simplices."""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray, Scalar
from optax.projections import projection_simplex

import minimax as mx
from minimax.checks import check_int, check_scalar, is_concrete

from ._common import as_float, check_shape

Pair = tuple[Float[Array, " n"], Float[Array, " m"]]

_LINEAR_PROGRAM = (
    "solve a linear program, e.g. `scipy.optimize.linprog` on y* = argmax v subject "
    "to M y >= v 1, sum(y) = 1, y >= 0 (and x* = argmin w subject to M^T x <= w 1, sum(x) = 1, "
    "x >= 0), or run minimax.optimistic_multiplicative_weights and watch `duality_gap`"
)


class MatrixGame(mx.AbstractZeroSumGame):
    r"""A two-player zero-sum matrix game in mixed strategies (von Neumann 1928),

    $$\min_{x \in \Delta_n} \max_{y \in \Delta_m}\ f(x, y) = x^\top M y, \qquad
    \Delta_k = \{p \in \mathbb{R}^k : p \ge 0,\ \textstyle\sum_i p_i = 1\}.$$

    Player 0 (`x`) picks a row and pays $M_{ij}$ to player 1 (`y`), who picks column $j$:
    `M` is the row player's loss and the column player's gain. By the minimax theorem
    $\min_x \max_y f = \max_y \min_x f$, the *value* of the game. Both players are constrained
    to their simplices: the game's `project` is `optax.projections.projection_simplex` for each,
    so every solver runs projected (e.g. `optax.sgd` gives projected gradient
    descent-ascent), and [`minimax.optimistic_multiplicative_weights`][] stays on the simplex
    by itself. Start from points on the simplices (e.g. the uniform strategies).

    The quality of a pair of strategies is measured exactly by
    [`duality_gap`][games.MatrixGame.duality_gap], which needs no equilibrium. Optimistic
    gradient descent-ascent, extra-gradient and optimistic multiplicative weights converge in
    the last iterate when the equilibrium is unique; gradient descent-ascent and multiplicative
    weights do not: on rock-paper-scissors their last iterates cycle and drift out to the
    boundary of the simplex, while their averages converge (Daskalakis & Panageas 2019).

    **Arguments:**

    - `M`: the `(n, m)` payoff matrix (the row player's loss).
    - `known_equilibrium`: an equilibrium `(x*, y*)` known in closed form, returned by
      `equilibrium` (keyword only; the named constructors below supply theirs). It is checked
      to have a duality gap near 0.

    **References:** von Neumann (1928), *Zur Theorie der Gesellschaftsspiele*, Mathematische
    Annalen 100; Daskalakis, Panageas (2019), *Last-iterate convergence: zero-sum games and
    constrained min-max optimization*, ITCS.

    ```python
    >>> import jax.numpy as jnp, games
    >>> game = games.MatrixGame.rock_paper_scissors()
    >>> x = jnp.array([1.0, 0.0, 0.0])  # always rock
    >>> print(game.duality_gap((x, x)))  # either player gains 1 by switching to paper
    2.0

    ```
    """

    M: Float[Array, "n m"]
    known_equilibrium: Pair | None

    def __init__(self, M, *, known_equilibrium: Any = None):
        self.M = as_float("M", M, 2)
        n, m = self.M.shape
        if n == 0 or m == 0:
            raise ValueError(f"`M` must have at least one row and one column, got shape {(n, m)}.")
        self.project = (projection_simplex, projection_simplex)
        if known_equilibrium is not None:
            known_equilibrium = self._as_pair("known_equilibrium", known_equilibrium)
            if all(is_concrete(a) for a in (self.M, *known_equilibrium)):  # checked on the host
                M, x, y = (np.asarray(a, np.float64) for a in (self.M, *known_equilibrium))
                gap = np.max(x @ M) - np.min(M @ y)
                tol = np.sqrt(np.finfo(self.M.dtype).eps) * max(1.0, np.abs(M).max())
                if not gap <= tol:
                    raise ValueError(
                        f"`known_equilibrium` is not an equilibrium of `M`: its duality gap is "
                        f"{gap:.3g}, not 0."
                    )
        self.known_equilibrium = known_equilibrium

    def _as_pair(self, name: str, players: Any) -> Pair:
        if not isinstance(players, tuple | list) or len(players) != 2:
            raise TypeError(f"`{name}` must be a pair `(x, y)`, got {type(players).__name__}.")
        (n, m), why = self.M.shape, f"since M has shape {self.M.shape}"
        x, y = (jnp.asarray(p) for p in players)
        check_shape(f"{name}[0]", x, (n,), why)
        check_shape(f"{name}[1]", y, (m,), why)
        return x, y

    def value(self, x, y, args=None, key=None) -> Scalar:
        (n, m), why = self.M.shape, f"since M has shape {self.M.shape}"
        check_shape("players[0]", x, (n,), why)
        check_shape("players[1]", y, (m,), why)
        return x @ (self.M.astype(x.dtype) @ y)

    @property
    def lipschitz(self) -> Scalar:
        r"""$\|M\|_2$, the Lipschitz constant of the game's field $(M y, -M^\top x)$. Fixed
        step sizes must be scaled by it: projected OGDA and optimistic multiplicative weights
        need $\eta < 1 / (2 \|M\|_2)$, extra-gradient $\eta < 1 / \|M\|_2$ (a step of 0.1
        is safe for rock-paper-scissors, $\|M\|_2 = \sqrt 3$, but not for a large game
        such as Colonel Blotto's, where $\|M\|_2$ is in the tens). [`minimax.PDHG`][] needs
        no step size: it adapts its own."""
        return jnp.linalg.norm(self.M, 2)

    def saddle_form(self, args: Any = None) -> mx.SaddleForm:
        r"""The game as [`minimax.PDHG`][] reads it: $x^\top M y = c^\top x - y^\top (K x - q)$
        with $c = 0$, $K = -M^\top$, $q = 0$; the players' sets are the simplices (the game's
        own projections)."""
        n, m = self.M.shape
        return mx.SaddleForm(
            c=jnp.zeros(n, self.M.dtype), K=-self.M.T, q=jnp.zeros(m, self.M.dtype)
        )

    def kkt_error(self, players) -> Scalar:
        """The [duality gap][games.MatrixGame.duality_gap]: what [`minimax.PDHG`][]'s `tol`
        measures on a matrix game."""
        return self.duality_gap(players)

    def duality_gap(self, players) -> Float[Array, "*batch"]:
        r"""The duality gap of `players = (x, y)`, exact:

        $$\max_{y' \in \Delta_m} x^\top M y' - \min_{x' \in \Delta_n} x'^\top M y
        = \max_j\, (x^\top M)_j - \min_i\, (M y)_i,$$

        what the best responses to `y` and to `x` would gain. For `x` and `y` on their
        simplices it is $\ge 0$, and 0 exactly at the equilibria. `x` and `y` may carry the
        same leading axes, e.g. a run's `sol.trajectory`, for one gap per row.
        """
        if not isinstance(players, tuple | list) or len(players) != 2:
            raise TypeError(f"`players` must be a pair `(x, y)`, got {type(players).__name__}.")
        x, y = (jnp.asarray(p) for p in players)
        n, m = self.M.shape
        for i, (p, k) in enumerate(((x, n), (y, m))):
            if p.shape[-1:] != (k,):
                raise ValueError(
                    f"`players[{i}]` must have shape ({k},), or (..., {k}) for a batch, since M "
                    f"has shape {self.M.shape}; got {p.shape}."
                )
        if x.shape[:-1] != y.shape[:-1]:
            raise ValueError(
                "`players[0]` and `players[1]` must have the same leading (batch) axes, got "
                f"shapes {x.shape} and {y.shape}."
            )
        M = self.M.astype(jnp.result_type(x, y))
        return jnp.max(x @ M, axis=-1) - jnp.min(y @ M.T, axis=-1)

    def equilibrium(self, near=None) -> Pair:
        r"""An equilibrium `(x*, y*)`: the constructor's closed form if it has one; otherwise,
        for a concrete square `M`, the completely mixed equilibrium if the game has one
        (Shapley & Snow 1950): the solutions of $M y = v \mathbf 1$, $\mathbf 1^\top y = 1$ and
        $M^\top x = v \mathbf 1$, $\mathbf 1^\top x = 1$, accepted if both are positive (then
        each player is indifferent among all the other's pure strategies, so the pair is an
        equilibrium, and it is the only one). Any other game raises `NotImplementedError`: a
        general `M` needs a linear program, and scipy is not a dependency of this package.
        `near` is ignored: the equilibria returned are unique.
        """
        if self.known_equilibrium is not None:
            return self.known_equilibrium
        if not is_concrete(self.M):
            raise NotImplementedError(
                "MatrixGame.equilibrium needs a concrete `M` (not traced) unless the game was "
                "built with `known_equilibrium`."
            )
        found = _completely_mixed(np.asarray(self.M, np.float64))
        if found is None:
            raise NotImplementedError(
                f"This MatrixGame (M of shape {self.M.shape}) has no closed-form equilibrium "
                "here: it has no completely mixed equilibrium (or M is not square). To find "
                f"one, {_LINEAR_PROGRAM}."
            )
        return tuple(jnp.asarray(p, self.M.dtype) for p in found)

    @classmethod
    def rock_paper_scissors(cls, *, dtype=None) -> "MatrixGame":
        r"""Rock-paper-scissors, strategies in the order (rock, paper, scissors): the winner
        gains 1,

        $$M = \begin{pmatrix} 0 & 1 & -1 \\ -1 & 0 & 1 \\ 1 & -1 & 0 \end{pmatrix}.$$

        The unique equilibrium is uniform for both players, $x^* = y^* = (1/3, 1/3, 1/3)$, and
        the value is 0."""
        M = jnp.array([[0.0, 1.0, -1.0], [-1.0, 0.0, 1.0], [1.0, -1.0, 0.0]], _dtype(dtype))
        third = jnp.full(3, 1 / 3, M.dtype)
        return cls(M, known_equilibrium=(third, third))

    @classmethod
    def matching_pennies(cls, *, dtype=None) -> "MatrixGame":
        r"""Matching pennies: the column player wins 1 if the two coins match and loses 1 if
        not,

        $$M = \begin{pmatrix} 1 & -1 \\ -1 & 1 \end{pmatrix}.$$

        The unique equilibrium is $x^* = y^* = (1/2, 1/2)$; the value is 0."""
        M = jnp.array([[1.0, -1.0], [-1.0, 1.0]], _dtype(dtype))
        half = jnp.full(2, 0.5, M.dtype)
        return cls(M, known_equilibrium=(half, half))

    @classmethod
    def biased_rock_paper_scissors(
        cls, rock: float = 2.0, paper: float = 1.0, scissors: float = 1.0, *, dtype=None
    ) -> "MatrixGame":
        r"""Rock-paper-scissors in which a win pays according to the winning hand: `rock`
        when rock beats scissors, `paper` when paper beats rock, `scissors` when scissors beats
        paper (each positive). With $r, p, s$ these payoffs and strategies in the order (rock,
        paper, scissors),

        $$M = \begin{pmatrix} 0 & p & -r \\ -p & 0 & s \\ r & -s & 0 \end{pmatrix}.$$

        `M` is antisymmetric, so the game is symmetric with value 0, and $z$ is an
        equilibrium strategy of both players exactly when $M z = 0$ on the simplex:
        $p z_P = r z_S$, $s z_S = p z_R$, $r z_R = s z_P$, whose solution is

        $$x^* = y^* = \frac{(s,\ r,\ p)}{r + p + s},$$

        unique as $M$ has rank 2. Each hand is played in proportion to the payoff of the win
        it takes no part in: making rock's win pay more makes *paper* more frequent, not rock.
        The default `rock=2` gives $(1/4, 1/2, 1/4)$.
        """
        for name, value in (("rock", rock), ("paper", paper), ("scissors", scissors)):
            check_scalar(name, value, low=0, low_open=True)
        dtype = _dtype(dtype)
        r, p, s = (float(v) for v in (rock, paper, scissors))
        M = jnp.array([[0.0, p, -r], [-p, 0.0, s], [r, -s, 0.0]], dtype)
        z = jnp.array([s, r, p], dtype) / (r + p + s)
        return cls(M, known_equilibrium=(z, z))

    @classmethod
    def random(
        cls,
        key: PRNGKeyArray,
        n: int,
        m: int | None = None,
        *,
        interior: bool = False,
        dtype=None,
    ) -> "MatrixGame":
        r"""A random game.

        - `interior=False` (default): `M` has independent standard normal entries. Its
          equilibrium is in general on the boundary of the simplices (some strategies unused)
          and has no closed form here (`equilibrium` raises unless it happens to be completely
          mixed); measure runs by `duality_gap`.
        - `interior=True` (square games only): a game with a unique equilibrium in the interior
          of both simplices, drawn as $x^*, y^*$ with entries uniform in $[1, 2)$, normalised,
          and $M = (I - \mathbf 1 x^{*\top})\, A\, (I - y^* \mathbf 1^\top)$ for a standard
          normal $A$, so that $M y^* = 0$ and $M^\top x^* = 0$: each player's $x^*$ (or $y^*$)
          leaves the other indifferent, and as $M$ has rank $n - 1$ (almost surely) no other
          pair is an equilibrium. The value is 0. The equilibrium is carried by the game.

        **Arguments:**

        - `key`: a JAX PRNG key.
        - `n`, `m`: the numbers of pure strategies of `x` and `y` (`m = n` if omitted).
        - `interior`: as above (keyword only).
        - `dtype`: floating dtype of the game; JAX's default float if omitted.
        """
        n = check_int("n", n)
        m = n if m is None else check_int("m", m)
        dtype = _dtype(dtype)
        ka, kx, ky = jax.random.split(key, 3)
        A = jax.random.normal(ka, (n, m), dtype)
        if not interior:
            return cls(A)
        if n != m:
            raise ValueError(
                f"`interior=True` needs a square game (n == m), got n={n}, m={m}: a game with a "
                "unique completely mixed equilibrium is square (Kaplansky 1945)."
            )
        x = 1 + jax.random.uniform(kx, (n,), dtype)
        y = 1 + jax.random.uniform(ky, (n,), dtype)
        x, y = x / x.sum(), y / y.sum()
        M = A - jnp.outer(A @ y, jnp.ones(n, dtype)) - jnp.outer(jnp.ones(n, dtype), x @ A)
        M = M + x @ A @ y
        return cls(M, known_equilibrium=(x, y))


def _dtype(dtype):
    return jnp.result_type(float) if dtype is None else jnp.dtype(dtype)


def _completely_mixed(M: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The completely mixed equilibrium of the square game `M` (float64), or None."""
    n, m = M.shape
    if n != m:
        return None

    def indifferent(B):  # z on the affine hull of the simplex with B z = v 1
        K = np.block([[B, -np.ones((n, 1))], [np.ones((1, n)), np.zeros((1, 1))]])
        rhs = np.zeros(n + 1)
        rhs[-1] = 1.0
        try:
            return np.linalg.solve(K, rhs)[:n]
        except np.linalg.LinAlgError:
            return None

    y, x = indifferent(M), indifferent(M.T)
    if x is None or y is None or not (np.all(x > 0) and np.all(y > 0)):
        return None
    # A nearly singular system gives garbage: accept only a pair that is an equilibrium.
    gap = np.max(x @ M) - np.min(M @ y)
    if not gap <= 1e-9 * max(1.0, np.abs(M).max()):
        return None
    return x, y


class BimatrixGame(mx.AbstractGeneralSumGame):
    r"""A two-player general-sum matrix game in mixed strategies: player 0 (`x`, rows) loses
    $x^\top A y$, player 1 (`y`, columns) loses $x^\top B y$, each on its simplex,

    $$\min_{x \in \Delta_n} x^\top A y, \qquad \min_{y \in \Delta_m} x^\top B y.$$

    `B = -A` is the zero-sum [`games.MatrixGame`][] of `M = A`. Every bimatrix game has a Nash
    equilibrium (Nash 1951), but finding one is PPAD-hard in general and gradient dynamics need
    not converge: measure a pair by its [`nash_gap`][games.BimatrixGame.nash_gap]. Both players
    are projected onto their simplices (`optax.projections.projection_simplex`) by every
    solver.

    **Arguments:**

    - `A`: the `(n, m)` losses of the row player.
    - `B`: the `(n, m)` losses of the column player.

    ```python
    >>> import jax.numpy as jnp, games
    >>> # The prisoner's dilemma in years of prison (rows and columns: cooperate, defect).
    >>> A = jnp.array([[1.0, 3.0], [0.0, 2.0]])
    >>> game = games.BimatrixGame(A, A.T)
    >>> defect = jnp.array([0.0, 1.0])
    >>> print(game.nash_gap((defect, defect)))  # defecting is dominant: an equilibrium
    0.0

    ```

    **References:** Nash (1951), *Non-cooperative games*, Annals of Mathematics 54.
    """

    A: Float[Array, "n m"]
    B: Float[Array, "n m"]

    def __init__(self, A, B):
        self.A, self.B = as_float("A", A, 2), as_float("B", B, 2)
        if self.A.shape != self.B.shape:
            raise ValueError(
                f"`A` and `B` must have the same shape (n, m), got {self.A.shape} and "
                f"{self.B.shape}."
            )
        if 0 in self.A.shape:
            raise ValueError(
                f"`A` must have at least one row and one column, got shape {self.A.shape}."
            )
        dtype = jnp.result_type(self.A, self.B)
        self.A, self.B = self.A.astype(dtype), self.B.astype(dtype)
        self.project = (projection_simplex, projection_simplex)

    def losses(self, players, args=None, key=None):
        x, y = players
        (n, m), why = self.A.shape, f"since A has shape {self.A.shape}"
        check_shape("players[0]", x, (n,), why)
        check_shape("players[1]", y, (m,), why)
        return x @ (self.A.astype(x.dtype) @ y), x @ (self.B.astype(x.dtype) @ y)

    def regrets(self, players) -> tuple[Scalar, Scalar]:
        r"""Each player's regret: what its best response to the other would save it,
        $x^\top A y - \min_i (A y)_i$ and $x^\top B y - \min_j (x^\top B)_j$ (both
        $\ge 0$ on the simplices)."""
        x, y = players
        loss_x, loss_y = self.losses(players)
        return loss_x - jnp.min(self.A @ y), loss_y - jnp.min(x @ self.B)

    def nash_gap(self, players) -> Scalar:
        """The larger of the two [regrets][games.BimatrixGame.regrets]: `players` is an
        `eps`-Nash equilibrium exactly when it is at most `eps`, and a Nash equilibrium when it
        is 0."""
        return jnp.maximum(*self.regrets(players))

    def equilibrium(self, near=None):
        raise NotImplementedError(
            "A BimatrixGame has no closed-form equilibrium in general (finding one is "
            "PPAD-hard): measure a pair of strategies by `nash_gap`."
        )
