from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray, PyTree

from .._game import AbstractGame, Players
from .._results import RESULTS
from ..checks import check_int, check_scalar, static_int
from .base import AbstractSolver, Step

# PDLP's adaptive step size (Applegate et al. 2021, Algorithm 3): the exponents of the shrink and
# growth factors, and the tries per step after which a step is taken anyway (as MPAX does).
_REDUCTION, _GROWTH, _TRIES = 0.3, 0.6, 10
# Restarts are checked at each of the first steps, then every `check_every` (as MPAX does).
_EARLY_CHECKS = 10

_RUNNING, _OPTIMAL_AVERAGE, _OPTIMAL_CURRENT, _PRIMAL_INFEASIBLE, _DUAL_INFEASIBLE = range(5)


class SaddleForm(eqx.Module):
    r"""A game whose coupling is bilinear, as [`minimax.PDHG`][] reads it:

    $$\min_{x \in X} \max_{y \in Y}\ c^\top x + c_0 - y^\top (K x - q).$$

    A game that PDHG can solve has a method `saddle_form(args) -> SaddleForm`
    ([`games.LinearProgram`][] and [`games.MatrixGame`][] do). Two kinds of sets:

    - **boxes** (a linear program): $X = \{l \le x \le u\}$ (`lower`, `upper`, `+-inf`
      allowed) and $Y = \{y : y_i \ge 0 \text{ where } \texttt{nonnegative}_i\}$. PDHG then
      rescales the problem (Ruiz, Pock-Chambolle), restarts on the KKT error, measures
      progress by PDLP's relative KKT error of this LP, and detects infeasibility.
    - **anything else** (`lower`, `upper` and `nonnegative` None): the game's own projections
      ([`minimax.AbstractGame.project_player`][]); no rescaling, restarts on the natural
      residual, and progress measured by the game's `kkt_error(players)`.

    **Fields:** `c` `(n,)`, `K` `(m, n)` (a dense array or a `jax.experimental.sparse.BCOO`),
    `q` `(m,)`, `constant` ($c_0$), `lower`, `upper`, `nonnegative` (see above); `col_scale`,
    `row_scale`: the game's players are `(x / col_scale, y / row_scale)` for the `(x, y)` of
    this form (ones, or None, when the game plays in these variables).
    """

    c: Float[Array, " n"]
    K: Any
    q: Float[Array, " m"]
    constant: Float[Array, ""] | float = 0.0
    lower: Float[Array, " n"] | None = None
    upper: Float[Array, " n"] | None = None
    nonnegative: Bool[Array, " m"] | None = None
    col_scale: Float[Array, " n"] | None = None
    row_scale: Float[Array, " m"] | None = None

    @property
    def boxes(self) -> bool:
        return self.lower is not None


def _is_dense(K) -> bool:
    return isinstance(K, jax.Array)


def _abs_max(K, axis: int) -> Array:
    if _is_dense(K):
        return jnp.max(jnp.abs(K), axis=axis, initial=0)
    index = K.indices[:, 1 - axis]
    return jnp.zeros(K.shape[1 - axis], K.dtype).at[index].max(jnp.abs(K.data))


def _abs_sum(K, axis: int) -> Array:
    if _is_dense(K):
        return jnp.sum(jnp.abs(K), axis=axis)
    index = K.indices[:, 1 - axis]
    return jnp.zeros(K.shape[1 - axis], K.dtype).at[index].add(jnp.abs(K.data))


def scale_matrix(K, row: Float[Array, " m"], col: Float[Array, " n"]):
    """`diag(row) K diag(col)`, for a dense `K` or a `jax.experimental.sparse.BCOO`."""
    if _is_dense(K):
        return row[:, None] * K * col[None, :]
    data = K.data * row[K.indices[:, 0]] * col[K.indices[:, 1]]
    return type(K)((data, K.indices), shape=K.shape)


def _safe_sqrt(v):
    """`sqrt(v)`, with 1 where `v` is 0 (an empty row or column is left unscaled)."""
    return jnp.sqrt(jnp.where(v > 0, v, 1))


def equilibrate(K, ruiz: int = 10) -> tuple[Float[Array, " m"], Float[Array, " n"]]:
    r"""Diagonal scalings `(row, col)` such that `diag(row) K diag(col)` is well balanced:
    `ruiz` passes of Ruiz's equilibration (each divides every row and column by the square root
    of its largest entry, in absolute value), then one of Pock and Chambolle's with
    $\alpha = 1$ (divide by the square roots of the rows' and columns' absolute sums), after
    which the scaled matrix has spectral norm at most 1. PDLP's default preconditioner
    (Applegate et al. 2021, Section 3.4). `K` may be dense or a
    `jax.experimental.sparse.BCOO`; an empty row or column is left unscaled.

    **References:** Ruiz (2001), *A scaling algorithm to equilibrate both rows and columns
    norms in matrices*; Pock, Chambolle (2011), *Diagonal preconditioning for first order
    primal-dual algorithms in convex optimization*, ICCV.
    """
    row = jnp.ones(K.shape[0], K.dtype)
    col = jnp.ones(K.shape[1], K.dtype)
    for _ in range(ruiz):
        scaled = scale_matrix(K, row, col)
        row = row / _safe_sqrt(_abs_max(scaled, 1))
        col = col / _safe_sqrt(_abs_max(scaled, 0))
    scaled = scale_matrix(K, row, col)
    return row / _safe_sqrt(_abs_sum(scaled, 1)), col / _safe_sqrt(_abs_sum(scaled, 0))


def _finite(v) -> Array:
    """Where a bound is finite (infinite bounds are kept as +-the largest float, so that the
    solver's state stays finite)."""
    return jnp.abs(v) < jnp.finfo(v.dtype).max


def _clip_inf(v):
    if v is None:
        return None
    big = jnp.finfo(v.dtype).max
    return jnp.clip(v, -big, big)


def _original(form: SaddleForm) -> SaddleForm:
    """The form as the game gave it, without its matrix and with finite stand-ins for infinite
    bounds."""
    return SaddleForm(
        c=form.c,
        K=None,
        q=form.q,
        constant=jnp.asarray(form.constant, form.c.dtype),
        lower=_clip_inf(form.lower),
        upper=_clip_inf(form.upper),
        nonnegative=form.nonnegative,
    )


def _rescaled(form: SaddleForm, rescale: bool) -> tuple[SaddleForm, Array, Array]:
    """The form in PDHG's variables `x = D_c x~`, `y = D_r y~`, and `(D_r, D_c)`."""
    dtype = form.c.dtype
    m, n = form.K.shape
    if rescale and form.boxes:
        row, col = (v.astype(dtype) for v in equilibrate(form.K))
    else:
        row, col = jnp.ones(m, dtype), jnp.ones(n, dtype)
    scaled = SaddleForm(
        c=form.c * col,
        K=scale_matrix(form.K, row, col),
        q=form.q * row,
        constant=jnp.asarray(form.constant, dtype),
        lower=_clip_inf(None if form.lower is None else form.lower / col),
        upper=_clip_inf(None if form.upper is None else form.upper / col),
        nonnegative=form.nonnegative,
    )
    return scaled, row, col


def _kkt_parts(form: SaddleForm, x, y, Kx, KTy):
    """Absolute primal residual, dual residual, primal and dual objectives of `(x, y)` for
    the box form `form`, given `K x` and `K^T y`."""
    slack = Kx - form.q
    primal = jnp.where(form.nonnegative, jnp.minimum(slack, 0), slack)
    r = form.c - KTy
    finite_lower, finite_upper = _finite(form.lower), _finite(form.upper)
    plus = jnp.where(finite_lower, jnp.maximum(r, 0), 0)
    minus = jnp.where(finite_upper, jnp.minimum(r, 0), 0)
    negative = jnp.where(form.nonnegative, jnp.minimum(y, 0), 0)
    dual = jnp.concatenate([r - plus - minus, negative])
    lower = jnp.where(finite_lower, form.lower, 0)
    upper = jnp.where(finite_upper, form.upper, 0)
    primal_objective = form.c @ x + form.constant
    dual_objective = form.q @ y + form.constant + lower @ plus + upper @ minus
    return jnp.linalg.norm(primal), jnp.linalg.norm(dual), primal_objective, dual_objective


def relative_kkt_error(form: SaddleForm, x, y, Kx, KTy) -> Array:
    """PDLP's relative KKT error of `(x, y)` for the box form `form` (the largest of the
    relative primal residual, dual residual and duality gap; see
    [`games.LinearProgram.kkt_error`][])."""
    primal, dual, p, d = _kkt_parts(form, x, y, Kx, KTy)
    return jnp.maximum(
        jnp.maximum(primal / (1 + jnp.linalg.norm(form.q)), dual / (1 + jnp.linalg.norm(form.c))),
        jnp.abs(p - d) / (1 + jnp.abs(p) + jnp.abs(d)),
    )


def _ray_checks(form: SaddleForm, x, y, Kx, KTy, tol):
    """Whether `y` is (up to `tol`) a Farkas certificate of primal infeasibility and `x` one of
    dual infeasibility (an unbounded ray), PDLP's tests (Applegate et al. 2021, Section 5)."""
    finite_lower, finite_upper = _finite(form.lower), _finite(form.upper)
    # Primal infeasible: q^T y + l^T r+ + u^T r- > 0 with r = -K^T y dual feasible for c = 0.
    r = -KTy
    plus = jnp.where(finite_lower, jnp.maximum(r, 0), 0)
    minus = jnp.where(finite_upper, jnp.minimum(r, 0), 0)
    negative = jnp.where(form.nonnegative, jnp.minimum(y, 0), 0)
    wrong = jnp.maximum(
        jnp.max(jnp.abs(r - plus - minus), initial=0), jnp.max(jnp.abs(negative), initial=0)
    )
    lower = jnp.where(finite_lower, form.lower, 0)
    upper = jnp.where(finite_upper, form.upper, 0)
    objective = form.q @ y + lower @ plus + upper @ minus
    primal_infeasible = (objective > 0) & (wrong <= tol * objective)
    # Dual infeasible: c^T x < 0 with K x in the recession cone of the constraints and x in
    # that of the bounds.
    violation = jnp.concatenate(
        [
            jnp.where(form.nonnegative, jnp.minimum(Kx, 0), Kx),
            jnp.where(finite_lower, jnp.minimum(x, 0), 0),
            jnp.where(finite_upper, jnp.maximum(x, 0), 0),
        ]
    )
    cost = form.c @ x
    dual_infeasible = (cost < 0) & (jnp.max(jnp.abs(violation), initial=0) <= -tol * cost)
    return primal_infeasible, dual_infeasible


def _ray_candidates(state):
    """Where to look for an infeasibility certificate, as PDLP does: the average, the current
    iterate, and the move since the last restart (each with its products)."""
    average = (state.x_average, state.y_average, state.Kx_average, state.KTy_average)
    current = (state.x, state.y, state.Kx, state.KTy)
    restart = (state.x_restart, state.y_restart, state.Kx_restart, state.KTy_restart)
    return average, current, tuple(a - b for a, b in zip(current, restart, strict=True))


def _stack(*points):
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *points)


def _transpose(K):
    """`K^T`, stored: a dense copy, or a sparse matrix with its indices sorted."""
    if _is_dense(K):
        return jnp.array(K.T, copy=True)
    return K.T.sort_indices()


def _matrices(state):
    return state.form.K, state.KT


def _cond(pred, fn, state):
    """`fn(state)` if `pred` else `state`, without passing the matrices through the branches
    (which would copy them at every step)."""
    matrices = _matrices(state)

    def strip(s):
        return eqx.tree_at(_matrices, s, (None, None))

    def dress(s):
        return eqx.tree_at(_matrices, s, matrices, is_leaf=lambda x: x is None)

    return dress(jax.lax.cond(pred, lambda s: strip(fn(dress(s))), lambda s: s, strip(state)))


def _unit(v):
    return v / jnp.maximum(jnp.max(jnp.abs(v), initial=0), jnp.finfo(v.dtype).tiny)


class PDHGState(eqx.Module):
    """State of [`minimax.PDHG`][], in its rescaled variables.

    **Fields:**

    - `form`: the game's [`minimax.SaddleForm`][], rescaled; `KT`: its `K` transposed (stored,
      so that both products read memory in order); `original`: as the game gave it
      (without `K`); `row`, `col`: the scalings $(D_r, D_c)$, `x = D_c x~`, `y = D_r y~`.
    - `to_x`, `to_y`: the factors that map the rescaled `(x, y)` to the game's players.
    - `x`, `y`, `Kx`, `KTy`: the current iterate and its products with `K`, `K^T`.
    - `x_average`, `y_average`, `Kx_average`, `KTy_average`, `weight`: the average of the
      iterates since the last restart (weighted by step size), its products, and the weights'
      sum.
    - `x_restart`, `y_restart`, `Kx_restart`, `KTy_restart`: the last restart point.
    - `step_size`, `primal_weight`: $\\eta$ and $\\omega$.
    - `count`: steps since the last restart; `iteration`: steps in all; `tries`: step sizes
      tried in all; `last_ratio`: the merit's reduction (against the restart before) at the
      last restart.
    - `status`: running (0), converged at the average (1) or the current iterate (2), primal
      (3) or dual (4) infeasible. Once it is not 0 the steps leave the state as it is.
    - `matvecs`, `restarts`: the last step's `stats`: its products with `K` or `K^T`, and
      the restart (0 or 1) of the check before it; `restarted`: whether the last check
      restarted (reported by the next step).
    """

    form: SaddleForm
    KT: Any
    original: SaddleForm
    row: Float[Array, " m"]
    col: Float[Array, " n"]
    to_x: Float[Array, " n"]
    to_y: Float[Array, " m"]
    x: Float[Array, " n"]
    y: Float[Array, " m"]
    Kx: Float[Array, " m"]
    KTy: Float[Array, " n"]
    x_average: Float[Array, " n"]
    y_average: Float[Array, " m"]
    Kx_average: Float[Array, " m"]
    KTy_average: Float[Array, " n"]
    weight: Float[Array, ""]
    x_restart: Float[Array, " n"]
    y_restart: Float[Array, " m"]
    Kx_restart: Float[Array, " m"]
    KTy_restart: Float[Array, " n"]
    step_size: Float[Array, ""]
    primal_weight: Float[Array, ""]
    count: Int[Array, ""]
    iteration: Int[Array, ""]
    tries: Int[Array, ""]
    last_ratio: Float[Array, ""]
    status: Int[Array, ""]
    matvecs: Int[Array, ""]
    restarts: Int[Array, ""]
    restarted: Int[Array, ""]


def _saddle_form(game: AbstractGame, args: Any) -> SaddleForm:
    method = getattr(game, "saddle_form", None)
    if not callable(method):
        raise TypeError(
            f"minimax.PDHG needs a game with a bilinear coupling that describes itself by a "
            f"method `saddle_form(args) -> minimax.SaddleForm` (as games.LinearProgram and "
            f"games.MatrixGame do); {type(game).__name__} has none."
        )
    form = method(args)
    if not isinstance(form, SaddleForm):
        raise TypeError(
            f"`{type(game).__name__}.saddle_form(args)` must return a minimax.SaddleForm, got "
            f"{type(form).__name__}."
        )
    if not form.boxes and not callable(getattr(game, "kkt_error", None)):
        raise TypeError(
            f"minimax.PDHG measures progress on a game whose sets are not boxes by the game's "
            f"`kkt_error(players)`; {type(game).__name__} has none."
        )
    return form


class PDHG(AbstractSolver[PDHGState]):
    r"""The primal-dual hybrid gradient method with PDLP's enhancements (Applegate et al. 2021;
    Lu & Yang's cuPDLP; MPAX's raPDHG), for games with a bilinear coupling,
    $\min_{x \in X} \max_{y \in Y} c^\top x - y^\top (K x - q)$, such as linear programs
    ([`games.LinearProgram`][]) and matrix games ([`games.MatrixGame`][]); the game describes
    itself by a [`minimax.SaddleForm`][].

    One step, with step size $\eta$ and primal weight $\omega$ (primal step $\eta / \omega$,
    dual step $\eta \omega$):

    $$x^+ = P_X\big(x - \tfrac{\eta}{\omega} (c - K^\top y)\big), \qquad
    y^+ = P_Y\big(y + \eta \omega\, (q - K (2 x^+ - x))\big).$$

    PDLP's rules, all on by default:

    - **Diagonal preconditioning** (box sets only): the problem is solved in the variables of
      [`minimax.equilibrate`][] (10 Ruiz passes, then Pock-Chambolle), computed once in
      `init`. Everything the solver reports is for the game's own variables.
    - **Adaptive step size**: a step is accepted when
      $\eta \le \|z^+ - z\|_\omega^2 / (2 |(y^+ - y)^\top K (x^+ - x)|)$, with
      $\|z\|_\omega^2 = \omega \|x\|^2 + \|y\|^2 / \omega$; the next $\eta$ is
      $\min\big((1 - (k+1)^{-0.3})\,\eta_{\max},\ (1 + (k+1)^{-0.6})\,\eta\big)$ for the
      $k$-th try. It starts at $1 / \max_{ij} |K_{ij}|$.
    - **Primal weight**: $\omega = \|c\| / \|q\|$ at the start (1 if either is 0), and at
      each restart $\omega \leftarrow \exp\big(\theta \log(\Delta y / \Delta x) + (1 - \theta)
      \log \omega\big)$ with $\theta$ = `smoothing`, $\Delta x$, $\Delta y$ the distances from
      the last restart point to the average.
    - **Adaptive restarts** to the average (weighted by step size) or the current iterate,
      whichever has the smaller merit, checked at each of the first 10 steps and then every
      `check_every`: when the merit fell below `sufficient` times its value at the last
      restart, or below `necessary` times it while the ratio is above the one at which the
      last restart happened (no progress: MPAX's rule, which measured better on Netlib than
      comparing with the previous check), or when the epoch holds `artificial` of all
      steps. The merit is the weighted KKT error
      $\sqrt{\omega^2 \|r_P\|^2 + \|r_D\|^2 / \omega^2 + \text{gap}^2}$ (box sets), otherwise
      the natural residual in the $\omega$-norm.
    - **Termination** at the same checks, when PDLP's relative KKT error of the average or the
      current iterate is at most `tol` (box sets: the LP's relative primal residual, dual
      residual and gap; otherwise the game's `kkt_error(players)`); **infeasibility** when
      the average is a certificate up to `tol_infeasible`: a Farkas ray $y$ (the LP is
      primal infeasible) or a ray $x$ along which the objective decreases without bound
      (dual infeasible). From then on the steps leave the state unchanged, so a batch of
      problems under `jax.vmap` stops for each as it converges.

    `step` returns the current iterate, with `stats` counting its `restarts` and `matvecs`;
    [`minimax.PDHG.answer`][] (`sol.answer`) the point that converged (the average unless the
    current iterate met `tol` first), or for an infeasible problem the certificate;
    [`minimax.PDHG.terminate`][] ends the run `successful`, `primal_infeasible` or
    `dual_infeasible` (`tolerance_not_reached` if the run takes all its steps first).
    The rescaled `K` and its transpose are stored in the state (two copies of the matrix
    besides the game's), which measured faster a step than scaling vectors around the game's
    `K`.

    **Arguments** (all keyword-or-positional, PDLP's defaults):

    - `tol`: the relative KKT error at which to stop.
    - `tol_infeasible`: the relative error of an infeasibility certificate (at least ten
      times the precision of the dtype: about 1e-6 in float32).
    - `check_every`: steps between checks (static).
    - `sufficient`, `necessary`, `artificial`: the restart criteria's factors (0.2, 0.8,
      0.36).
    - `smoothing`: of the primal weight's update (0.5).
    - `rescale`: whether to precondition (box sets only; static).

    ```python
    >>> import jax.numpy as jnp, games, minimax as mx
    >>> lp = games.LinearProgram(c=[1.0, 2.0], A=[[1.0, 1.0]], b=[1.0])  # x* = (1, 0)
    >>> sol = mx.solve(lp, mx.PDHG(tol=1e-6), lp.init_players(), steps=1000, save_every=None)
    >>> x, y = sol.answer
    >>> print(jnp.round(x, 5), jnp.round(y, 5), int(sol.stats["steps"]))
    [1. 0.] [1.] 64

    ```

    **References:** Applegate, Díaz, Hinder, Lu, Lubin, O'Donoghue, Schudy (2021), *Practical
    large-scale linear programming using primal-dual hybrid gradient*, NeurIPS; Applegate,
    Hinder, Lu, Lubin (2023), *Faster first-order primal-dual methods for linear programming
    using restarts and sharpness*, Mathematical Programming; Lu, Yang (2023), *cuPDLP.jl*;
    Lu, Peng, Yang (2024), *MPAX: Mathematical programming in JAX*; Chambolle, Pock (2011),
    *A first-order primal-dual algorithm for convex problems with applications to imaging*.
    """

    tol: Any = 1e-4
    tol_infeasible: Any = 1e-8
    check_every: Any = eqx.field(default=64, static=True, converter=static_int)
    sufficient: Any = 0.2
    necessary: Any = 0.8
    artificial: Any = 0.36
    smoothing: Any = 0.5
    rescale: bool = eqx.field(default=True, static=True)

    def __check_init__(self):
        check_scalar("tol", self.tol, low=0)
        check_scalar("tol_infeasible", self.tol_infeasible, low=0)
        check_int("check_every", self.check_every)
        check_scalar("sufficient", self.sufficient, low=0, high=1, low_open=True)
        check_scalar("necessary", self.necessary, low=0, high=1, low_open=True)
        check_scalar("artificial", self.artificial, low=0, high=1, low_open=True)
        check_scalar("smoothing", self.smoothing, low=0, high=1)
        if not isinstance(self.rescale, bool):
            raise TypeError(f"`rescale` must be True or False, got {self.rescale!r}.")

    # Set-up.

    def init(
        self,
        game: AbstractGame,
        players: Players,
        args: Any = None,
        key: PRNGKeyArray | None = None,
        *,
        model_state: PyTree = None,
    ) -> PDHGState:
        form = _saddle_form(game, args)
        scaled, row, col = _rescaled(form, self.rescale)
        dtype = scaled.c.dtype
        game_col = jnp.ones_like(col) if form.col_scale is None else form.col_scale.astype(dtype)
        game_row = jnp.ones_like(row) if form.row_scale is None else form.row_scale.astype(dtype)
        to_x, to_y = col / game_col, row / game_row
        x, y = (jnp.asarray(p, dtype) for p in players)
        x, y = x / to_x, y / to_y
        K, KT = scaled.K, _transpose(scaled.K)
        Kx, KTy = K @ x, KT @ y
        c_norm, q_norm = jnp.linalg.norm(scaled.c), jnp.linalg.norm(scaled.q)
        weight = jnp.where(
            (c_norm > 0) & (q_norm > 0), c_norm / jnp.where(q_norm > 0, q_norm, 1), 1
        )
        biggest = jnp.max(jnp.abs(K if _is_dense(K) else K.data), initial=0)
        zero_f, zero_i = jnp.zeros((), dtype), jnp.zeros((), jnp.int32)
        return PDHGState(
            form=scaled, KT=KT, original=_original(form), row=row, col=col,
            to_x=to_x, to_y=to_y,
            x=x, y=y, Kx=Kx, KTy=KTy,
            x_average=x, y_average=y, Kx_average=Kx, KTy_average=KTy, weight=zero_f,
            x_restart=x, y_restart=y, Kx_restart=Kx, KTy_restart=KTy,
            step_size=jnp.where(biggest > 0, 1 / jnp.where(biggest > 0, biggest, 1), 1),
            primal_weight=weight.astype(dtype),
            count=zero_i, iteration=zero_i, tries=zero_i,
            last_ratio=jnp.ones((), dtype), status=zero_i, matvecs=zero_i, restarts=zero_i,
            restarted=zero_i,
        )  # fmt: skip

    # Pieces of a step.

    def _project(self, game, form, state, player, value):
        if form.boxes:
            if player == 0:
                return jnp.clip(value, form.lower, form.upper)
            return jnp.where(form.nonnegative, jnp.maximum(value, 0), value)
        scale = state.to_x if player == 0 else state.to_y
        return game.project_player(player, value * scale) / scale

    def _merit(self, game, state, x, y, Kx, KTy):
        """The restart merit of `(x, y)` (rescaled variables), with the current weight."""
        form, w = state.form, state.primal_weight
        if form.boxes:
            primal, dual, p, d = _kkt_parts(form, x, y, Kx, KTy)
            return jnp.sqrt((w * primal) ** 2 + (dual / w) ** 2 + (p - d) ** 2)
        rx = x - self._project(game, form, state, 0, x - (form.c - KTy))
        ry = y - self._project(game, form, state, 1, y + (form.q - Kx))
        return jnp.sqrt(w * jnp.sum(rx**2) + jnp.sum(ry**2) / w)

    def _players(self, state, x, y) -> Players:
        return x * state.to_x, y * state.to_y

    def _error(self, game, state, x, y, Kx, KTy, args):
        """The relative KKT error of `(x, y)` (rescaled variables) for the game as written."""
        if state.form.boxes:
            return relative_kkt_error(
                state.original, x * state.col, y * state.row, Kx / state.row, KTy / state.col
            )
        return jnp.asarray(game.kkt_error(self._players(state, x, y)))

    def _rays(self, state, x, y, Kx, KTy):
        """Whether `y` certifies primal and `x` dual infeasibility (rescaled variables)."""
        return _ray_checks(
            state.original, x * state.col, y * state.row, Kx / state.row, KTy / state.col,
            jnp.maximum(self.tol_infeasible, 10 * jnp.finfo(x.dtype).eps),
        )  # fmt: skip

    def _check(self, game, state: PDHGState, args) -> PDHGState:
        """Termination, infeasibility and restart checks (PDLP's order)."""
        average = (state.x_average, state.y_average, state.Kx_average, state.KTy_average)
        current = (state.x, state.y, state.Kx, state.KTy)
        restart_point = (state.x_restart, state.y_restart, state.Kx_restart, state.KTy_restart)
        # Each measure traced once and mapped over the points (a smaller program to compile).
        errors = jax.vmap(lambda p: self._error(game, state, *p, args))(_stack(average, current))
        tol = jnp.asarray(self.tol, errors.dtype)
        status = jnp.where(
            errors[0] <= tol, _OPTIMAL_AVERAGE, jnp.where(errors[1] <= tol, _OPTIMAL_CURRENT, 0)
        )
        if state.form.boxes:
            primal_inf, dual_inf = jax.vmap(lambda p: self._rays(state, *p))(
                _stack(*_ray_candidates(state))
            )
            status = jnp.where(
                status == 0,
                jnp.where(
                    jnp.any(primal_inf),
                    _PRIMAL_INFEASIBLE,
                    jnp.where(jnp.any(dual_inf), _DUAL_INFEASIBLE, 0),
                ),
                status,
            )
        status = status.astype(state.status.dtype)
        # Restart.
        at_average, at_current, last = jax.vmap(lambda p: self._merit(game, state, *p))(
            _stack(average, current, restart_point)
        )
        use_average = at_current >= at_average
        candidate = jnp.where(use_average, at_average, at_current)
        tiny = jnp.finfo(last.dtype).eps
        ratio = jnp.where(last > tiny, candidate / jnp.where(last > tiny, last, 1), 1)
        restart = (state.count >= self.artificial * state.iteration) | (
            (ratio < self.necessary) & ((ratio < self.sufficient) | (ratio > state.last_ratio))
        )
        restart = restart & (status == _RUNNING)
        point = jax.tree.map(lambda a, c: jnp.where(use_average, a, c), average, current)
        dx = jnp.linalg.norm(state.x_average - state.x_restart)
        dy = jnp.linalg.norm(state.y_average - state.y_restart)
        moved = (dx > tiny) & (dy > tiny)
        w = state.primal_weight
        new_weight = jnp.where(
            moved,
            jnp.exp(
                self.smoothing * jnp.log(jnp.where(moved, dy / jnp.where(moved, dx, 1), 1))
                + (1 - self.smoothing) * jnp.log(w)
            ),
            w,
        )

        def pick(new, old):
            return jax.tree.map(lambda a, b: jnp.where(restart, a, b), new, old)

        x, y, Kx, KTy = pick(point, current)
        x_r, y_r, Kx_r, KTy_r = pick(
            point, (state.x_restart, state.y_restart, state.Kx_restart, state.KTy_restart)
        )
        return eqx.tree_at(
            lambda s: (
                s.x, s.y, s.Kx, s.KTy, s.x_restart, s.y_restart, s.Kx_restart, s.KTy_restart,
                s.weight, s.count, s.primal_weight, s.last_ratio, s.status, s.restarted,
            ),
            state,
            (
                x, y, Kx, KTy, x_r, y_r, Kx_r, KTy_r,
                jnp.where(restart, 0, state.weight).astype(state.weight.dtype),
                jnp.where(restart, 0, state.count).astype(state.count.dtype),
                jnp.where(restart, new_weight, w).astype(w.dtype),
                jnp.where(restart, ratio, state.last_ratio).astype(state.last_ratio.dtype),
                status,
                restart.astype(state.restarted.dtype),
            ),
        )  # fmt: skip

    def _move(self, game, state: PDHGState) -> PDHGState:
        """One PDHG step with PDLP's adaptive step size."""
        form, w = state.form, state.primal_weight
        K = form.K

        def attempt(eta, tries):
            """The step with size `eta` at the `tries`-th try (0-based): whether it is
            accepted, and the step size to try next."""
            x = self._project(game, form, state, 0, state.x - eta / w * (form.c - state.KTy))
            dx = x - state.x
            Kdx = K @ dx
            y = self._project(
                game, form, state, 1, state.y + eta * w * (form.q - state.Kx - 2 * Kdx)
            )
            dy = y - state.y
            interaction = jnp.abs(dy @ Kdx)
            movement = 0.5 * w * jnp.sum(dx**2) + 0.5 / w * jnp.sum(dy**2)
            limit = jnp.where(
                interaction > 0, movement / jnp.where(interaction > 0, interaction, 1), jnp.inf
            )
            k = (state.tries + tries + 2).astype(eta.dtype)  # as MPAX counts
            following = jnp.minimum((1 - k**-_REDUCTION) * limit, (1 + k**-_GROWTH) * eta)
            return (eta <= limit, eta, x, y, Kdx), following

        def retry(carry):
            _, following, tries = carry
            return *attempt(following, tries), tries + 1

        def rejected(carry):
            return ~carry[0][0] & (carry[2] < _TRIES)

        # Most steps are accepted at the first try: the loop runs only for the others.
        dtype = state.x.dtype
        first = *attempt(state.step_size, jnp.zeros((), jnp.int32)), jnp.ones((), jnp.int32)
        (_, eta, x, y, Kdx), following, tries = jax.lax.cond(
            first[0][0],
            lambda carry: carry,
            lambda carry: jax.lax.while_loop(rejected, retry, carry),
            first,
        )
        Kx, KTy = state.Kx + Kdx, state.KT @ y
        weight = state.weight + eta
        ratio = (eta / weight).astype(dtype)

        def towards(average, new):
            return average + ratio * (new - average)

        return eqx.tree_at(
            lambda s: (
                s.x, s.y, s.Kx, s.KTy, s.x_average, s.y_average, s.Kx_average, s.KTy_average,
                s.weight, s.step_size, s.count, s.iteration, s.tries, s.matvecs, s.restarts,
                s.restarted,
            ),
            state,
            (
                x, y, Kx, KTy,
                towards(state.x_average, x), towards(state.y_average, y),
                towards(state.Kx_average, Kx), towards(state.KTy_average, KTy),
                weight, following.astype(dtype), state.count + 1, state.iteration + 1,
                state.tries + tries, tries + 1, state.restarted, jnp.zeros_like(state.restarted),
            ),
        )  # fmt: skip

    # The protocol.

    def step(
        self,
        game: AbstractGame,
        players: Players,
        state: PDHGState,
        args: Any = None,
        key: PRNGKeyArray | None = None,
        *,
        model_state: PyTree = None,
    ) -> Step[PDHGState]:
        """A PDHG step, then a check (after each of the first 10 steps, then every
        `check_every`, so that a run stops at the end of the block in which it converged);
        nothing once converged or infeasible. The players are the current iterate; `stats`
        counts `matvecs` (the step's products with `K` or `K^T`) and `restarts` (0 or 1; a
        check's restart is counted by the step after it, so a run that ends right after a
        restart counts one fewer)."""
        running = state.status == _RUNNING
        zero = jnp.zeros((), jnp.int32)
        state = eqx.tree_at(lambda s: (s.matvecs, s.restarts), state, (zero, zero))
        state = _cond(running, lambda s: self._move(game, s), state)
        due = (state.iteration <= _EARLY_CHECKS) | (state.iteration % self.check_every == 0)
        due = due & running & (state.count > 0)
        state = _cond(due, lambda s: self._check(game, s, args), state)
        players = self._players(state, state.x, state.y)
        # Counted in the state by the step's branch: statistics read off the check's branch
        # (which runs once in 64 steps) measured 1.5x slower a step.
        stats = {"restarts": state.restarts, "matvecs": state.matvecs}
        return Step(players, state, stats=stats, model_state=model_state)

    def terminate(
        self, game: AbstractGame, players: Players, state: PDHGState, args: Any = None
    ) -> tuple[Bool[Array, ""], RESULTS]:
        """`(done, result)`: done when converged to `tol` (`successful`) or found infeasible
        (`primal_infeasible`, `dual_infeasible`); otherwise not done, and a run that ends now
        has not met `tol` (`tolerance_not_reached`)."""
        result = RESULTS.where(
            state.status == _PRIMAL_INFEASIBLE,
            RESULTS.primal_infeasible,
            RESULTS.where(
                state.status == _DUAL_INFEASIBLE,
                RESULTS.dual_infeasible,
                RESULTS.where(
                    state.status == _RUNNING, RESULTS.tolerance_not_reached, RESULTS.successful
                ),
            ),
        )
        return state.status != _RUNNING, result

    def answer(
        self, game: AbstractGame, players: Players, state: PDHGState, args: Any = None
    ) -> Players:
        """The solution in the game's variables: the average since the last restart (the
        current iterate if it met `tol` first, or if no step has been taken since a restart).
        For a primal infeasible problem `(0, y)` with `y` the Farkas ray; for a dual infeasible
        one `(x, 0)` with `x` the unbounded ray (each scaled to largest entry 1)."""
        use_current = (state.status == _OPTIMAL_CURRENT) | (state.weight == 0)
        x = jnp.where(use_current, state.x, state.x_average)
        y = jnp.where(use_current, state.y, state.y_average)
        if not state.form.boxes:
            return self._players(state, x, y)
        # An infeasible problem: the first candidate that certifies it, scaled to max entry 1.
        candidates = _stack(*_ray_candidates(state))
        primal_ok, dual_ok = jax.vmap(lambda p: self._rays(state, *p))(candidates)
        ray_x = candidates[0][jnp.argmax(dual_ok)]  # the first that certifies
        ray_y = candidates[1][jnp.argmax(primal_ok)]
        ray_x, ray_y = self._players(state, ray_x, ray_y)
        x, y = self._players(state, x, y)
        primal = state.status == _PRIMAL_INFEASIBLE
        dual = state.status == _DUAL_INFEASIBLE
        x = jnp.where(primal, 0, jnp.where(dual, _unit(ray_x), x))
        y = jnp.where(dual, 0, jnp.where(primal, _unit(ray_y), y))
        return x, y
