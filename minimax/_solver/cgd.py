"""Competitive gradient descent (CGD) and adaptive CGD (ACGD): matrix-free, with lineax."""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
from jaxtyping import Array, Int, PRNGKeyArray, PyTree

from .._game import AbstractGame, AbstractZeroSumGame, Players, field_and_state, split_players
from .._results import RESULTS
from ..checks import check_int, check_scalar, is_concrete
from .base import AbstractSolver, Step

# The default `rtol` and `atol`: `eps ** 0.75` for the players' least precise floating dtype,
# 1.8e-12 in float64 (a step agrees with a dense solve to well within 1e-10 on small games) and
# 6.4e-6 in float32 (well above the ~1e-7 rounding floor of a float32 residual, so solves
# converge).
_TOLERANCE_POWER = 0.75


class CGDState(eqx.Module):
    """State of [`minimax.CGD`][].

    **Fields:**

    - `count`: the number of steps taken (what a learning-rate schedule is called with).
    - `solution`: the last linear solve's solution for each player, `w = -Δ / η` (the pair
      `(Δx, Δy)` is the last step): with `warm_start=True` the next solve starts from it.
    """

    count: Int[Array, ""]
    solution: Players


class ACGDState(eqx.Module):
    """State of [`minimax.ACGD`][].

    **Fields:**

    - `count`: the number of steps taken (the bias correction's `t - 1`; its parity picks the
      player whose system is solved).
    - `solution`: the last linear solve's solution for each player, `c = -Δ / sqrt(η)`
      (elementwise): with `warm_start=True` the next solve for that player starts from it.
    - `second_moments`: each player's exponential moving average of its squared gradient.
    """

    count: Int[Array, ""]
    solution: Players
    second_moments: Players


def _learning_rate(learning_rate, count) -> Any:
    return learning_rate(count) if callable(learning_rate) else learning_rate


def _times(a, tree: PyTree) -> PyTree:
    """`a * tree`: `a` a scalar, or a PyTree of `tree`'s structure (elementwise). The result
    keeps `tree`'s dtypes (a float64 learning rate does not promote float32 players)."""
    if eqx.is_array_like(a):  # a scalar, or an array player's own elementwise factor
        return jax.tree.map(lambda t: jnp.asarray(a, t.dtype) * t, tree)
    return jax.tree.map(lambda s, t: s.astype(t.dtype) * t, a, tree)


def _add(a: PyTree, b: PyTree, scale=1) -> PyTree:
    """`a + scale * b`."""
    return jax.tree.map(lambda s, t: s + jnp.asarray(scale, s.dtype) * t, a, b)


def _all_finite(tree: PyTree) -> Array:
    leaves = jax.tree.leaves(tree)
    return jnp.all(jnp.stack([jnp.isfinite(leaf).all() for leaf in leaves]))


def _structure(tree: PyTree) -> PyTree:
    return jax.eval_shape(lambda: tree)


def _linear_solver(kind, rtol, atol, max_steps, params: Players):
    """`lineax.CG` or `lineax.GMRES` with the tolerances resolved for `params`."""
    if rtol is None or atol is None:
        eps = max(float(np.finfo(leaf.dtype).eps) for leaf in jax.tree.leaves(params))
        tol = eps**_TOLERANCE_POWER
        rtol, atol = (tol if rtol is None else rtol), (tol if atol is None else atol)
    if kind is lx.GMRES and max_steps is not None and not (_is_zero(rtol) and _is_zero(atol)):
        # lineax reports a solve that used all `max_steps` iterations as failed, even if its
        # last one converged: one more makes "converged within `max_steps`" a success.
        max_steps = max_steps + 1
    return kind(rtol=rtol, atol=atol, max_steps=max_steps)


def _dot(a: PyTree, b: PyTree) -> Array:
    return sum(jnp.vdot(u, v) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


class _CG(lx.AbstractLinearSolver):
    r"""Conjugate gradients for a symmetric positive definite operator, stopped by the norm of
    the residual $r = b - Aw$: converged once $\|r\| \le \max(\mathrm{rtol}\,\|b\|,
    \mathrm{atol})$ (2-norms over every leaf, compared squared, as CGDs does), checked before
    the first iteration too, so a warm start that already solves the system costs no iteration.

    It differs from `lineax.CG` in the rule (lineax's is entrywise, on the residual and on the
    last update, after at least one iteration, which usually costs one more iteration) and in
    evaluating the operator once per iteration (plus once for the warm start's residual): the
    residual is updated recursively and never recomputed, as in CGDs (a drift that only matters
    after far more iterations than a CGD step takes). A subclass of lineax's solver, so that
    `lineax.linear_solve` still differentiates the solve implicitly.

    With `rtol = atol = 0` it takes exactly `max_steps` iterations (fewer if the residual
    vanishes) and succeeds; otherwise a solve still above the tolerance after `max_steps`
    iterations (`None`: 10 times the number of unknowns) reports `max_steps_reached`.
    """

    rtol: Any
    atol: Any
    max_steps: int | None = eqx.field(static=True)

    def init(self, operator, options):
        return operator

    def compute(self, state, vector, options):
        operator = state
        size = sum(leaf.size for leaf in jax.tree.leaves(vector))
        max_steps = 10 * size if self.max_steps is None else self.max_steps
        fixed = _is_zero(self.rtol) and _is_zero(self.atol)
        dtype = jnp.result_type(*jax.tree.leaves(vector))
        rtol, atol = (jnp.asarray(t, dtype) for t in (self.rtol, self.atol))
        bound = jnp.maximum(rtol**2 * _dot(vector, vector), atol**2)
        if "y0" in options:
            w0 = options["y0"]
            r0 = _add(vector, operator.mv(w0), -1)
        else:  # from zero, the residual is the right-hand side: no product needed
            w0, r0 = jax.tree.map(jnp.zeros_like, vector), vector
        rr0 = _dot(r0, r0)

        def done(rr):
            # A zero residual is exact (and would make the next step 0 / 0); a NaN one stops.
            return (rr == 0) | ~(rr > bound) if not fixed else ~(rr > 0)

        def cond(carry):
            _, _, _, rr, k = carry
            return (k < max_steps) & ~done(rr)

        def body(carry):
            w, r, p, rr, k = carry
            ap = operator.mv(p)
            alpha = rr / _dot(p, ap)
            w, r = _add(w, p, alpha), _add(r, ap, -alpha)
            rr_new = _dot(r, r)
            return w, r, _add(r, p, rr_new / rr), rr_new, k + 1

        w, _, _, rr, steps = jax.lax.while_loop(cond, body, (w0, r0, r0, rr0, jnp.array(0)))
        converged = (steps == max_steps) | (rr == 0) if fixed else done(rr) & jnp.isfinite(rr)
        result = lx.RESULTS.where(converged, lx.RESULTS.successful, lx.RESULTS.max_steps_reached)
        return w, result, {"num_steps": steps}

    def transpose(self, state, options):
        return state, {}  # symmetric; the warm start belongs to the forward solve

    def conj(self, state, options):
        return state, {}  # real

    def assume_full_rank(self):
        return True


def _linearised(game, params: Players, static: Players, args, key, model_state):
    """The field `F = (F_0, F_1)`, its off-diagonal Jacobian blocks as linear functions:
    `J01(v) = ∂F_0/∂y v` and `J10(u) = ∂F_1/∂x u` (mixed Hessian-vector products, forward over
    reverse, linearised once so that every product reuses the same forward pass), and the
    model state of the evaluation at the base point."""
    x, y = params

    def field(pair, player):
        f, new_state = field_and_state(game, pair, static, args, key, model_state)
        return f[player], new_state

    f0, j01, new_state = jax.linearize(lambda y_: field((x, y_), 0), y, has_aux=True)
    f1, j10, _ = jax.linearize(lambda x_: field((x_, y), 1), x, has_aux=True)
    return (f0, f1), (j01, j10), new_state


def _linearised_zero_sum(game, params: Players, static: Players, args, key, model_state):
    """As `_linearised`, for a zero-sum game from one linearisation: the field along `y`
    gives `J01`, and `J10 = -J01^T` (as `F_1 = -∇_y f`) by transposing it."""
    x, y = params
    field, along_y, new_state = jax.linearize(
        lambda y_: field_and_state(game, (x, y_), static, args, key, model_state), y, has_aux=True
    )

    def j01(v):
        return along_y(v)[0]

    j01_t = jax.linear_transpose(j01, y)

    def j10(u):
        return _times(-1.0, j01_t(u)[0])

    return field, (j01, j10), new_state


def _start(guess: PyTree, warm: bool) -> dict:
    """The solve's options: start from `guess` if `warm`, else from zero."""
    # The solution does not depend on where the solve starts, so neither does its derivative:
    # lineax differentiates the solve implicitly and refuses a differentiable `y0`.
    return {"y0": jax.lax.stop_gradient(guess)} if warm else {}


def _solve_result(solution: lx.Solution, rhs: PyTree) -> tuple[RESULTS, dict[str, Array]]:
    """The solve's result (lineax's, promoted) and its statistics."""
    # A non-finite right-hand side stops CG at once with a "converged" warm start: say so.
    result = RESULTS.where(_all_finite(rhs), RESULTS.promote(solution.result), RESULTS.nonfinite)
    return result, {"linear_solve_steps": solution.stats["num_steps"]}


def _zero_sum_solve(
    i: int, eta, scale, pre, field, jac, guess: Players, solver, warm: bool
) -> tuple:
    r"""Solve player `i`'s system of the zero-sum CGD update; the other player's step follows.

    With `j` the other player, the local Nash equilibrium is `Δ_i = -η_i (F_i + J_ij Δ_j)`,
    `Δ_j = -η_j (F_j + J_ji Δ_i)`. Writing `Δ_i = -D_i c` with `D_i = scale[i]` and
    `P_i = pre[i] = η_i / D_i` (CGD: `D = η`, `P = 1`; ACGD: `D = P = sqrt(η)`),

    $$\big(I - P_i J_{ij}\, η_j\, J_{ji} D_i\big)\, c = P_i \big(F_i - J_{ij} (η_j F_j)\big),$$

    symmetric positive definite as `J_ji = -J_ij^T` in a zero-sum game and `P_i = D_i` (or both
    are scalars). The other player's solution is `c_j = -Δ_j / D_j = P_j (F_j + J_ji Δ_i)`.

    Returns `(Δ, c, (result, stats))`, `Δ` and `c` pairs in player order.
    """
    j = 1 - i
    rhs = _times(pre[i], _add(field[i], jac[i](_times(eta[j], field[j])), -1))

    def matvec(c):
        return _add(c, _times(pre[i], jac[i](_times(eta[j], jac[j](_times(scale[i], c))))), -1)

    tags = frozenset({lx.symmetric_tag, lx.positive_semidefinite_tag})
    operator = lx.FunctionLinearOperator(matvec, _structure(guess[i]), tags)
    sol = lx.linear_solve(operator, rhs, solver, options=_start(guess[i], warm), throw=False)
    delta_i = _times(-1.0, _times(scale[i], sol.value))
    w_j = _add(field[j], jac[j](delta_i))
    delta_j = _times(-1.0, _times(eta[j], w_j))
    c_j = _times(pre[j], w_j)
    deltas = (delta_i, delta_j) if i == 0 else (delta_j, delta_i)
    solution = (sol.value, c_j) if i == 0 else (c_j, sol.value)
    return deltas, solution, _solve_result(sol, rhs)


def _sqrt(tree: PyTree) -> PyTree:
    return jax.tree.map(jnp.sqrt, tree)


def _general_sum_solve(eta, field, jac, guess: Players, solver, warm: bool) -> tuple:
    """The block system `(I + η O) w = F`, `O = [[0, J01], [J10, 0]]`, by GMRES; `Δ = -η w`."""

    def matvec(w):
        return _add(w, _times(eta, (jac[0](w[1]), jac[1](w[0]))))

    operator = lx.FunctionLinearOperator(matvec, _structure(guess))
    sol = lx.linear_solve(operator, field, solver, options=_start(guess, warm), throw=False)
    deltas = _times(-1.0, _times(eta, sol.value))
    return deltas, sol.value, _solve_result(sol, field)


def _is_zero(value) -> bool:
    return value is not None and is_concrete(value) and float(np.asarray(value)) == 0


def _check_tolerances(rtol, atol, max_steps) -> None:
    if rtol is not None:
        check_scalar("rtol", rtol, low=0)
    if atol is not None:
        check_scalar("atol", atol, low=0)
    if max_steps is not None:
        check_int("max_steps", max_steps)
    if _is_zero(rtol) and _is_zero(atol) and max_steps is None:
        raise ValueError(
            "`rtol` and `atol` are both 0, so the linear solve could never stop: give a "
            "positive tolerance, or `max_steps` (then every solve takes exactly that many "
            "iterations and counts as converged)."
        )


def _apply(players: Players, deltas: Players) -> Players:
    params, static = split_players(players)
    new = jax.tree.map(lambda p, d: p + d.astype(p.dtype), params, deltas)
    return eqx.combine(new, static)


class CGD(AbstractSolver[CGDState]):
    r"""Competitive gradient descent (Schäfer & Anandkumar 2019): each step is the Nash
    equilibrium of the game's bilinear approximation at the current point, in which each player
    also pays $\|\Delta\|^2 / (2\eta)$ for moving.

    With $F = (\nabla_x \ell_0, \nabla_y \ell_1)$ the game's
    [vector field][minimax.AbstractGame.vector_field] and $J_{01} = D_{xy} \ell_0$,
    $J_{10} = D_{yx} \ell_1$ its off-diagonal Jacobian blocks (the mixed second derivatives),
    the step solves

    $$\begin{bmatrix} I & \eta J_{01} \\ \eta J_{10} & I \end{bmatrix}
    \begin{bmatrix} \Delta x \\ \Delta y \end{bmatrix}
    = -\eta \begin{bmatrix} F_0 \\ F_1 \end{bmatrix}.$$

    In a zero-sum game $\min_x \max_y f(x, y)$ ($\ell_0 = f$, $\ell_1 = -f$) this is

    $$\Delta x = -\eta \big(I + \eta^2 D_{xy} f\, D_{yx} f\big)^{-1}
    \big(\nabla_x f + \eta\, D_{xy} f\, \nabla_y f\big), \qquad
    \Delta y = \eta \big(\nabla_y f + D_{yx} f\, \Delta x\big),$$

    whose matrix $I + \eta^2 D_{xy} f\, D_{yx} f$ is symmetric positive definite
    ($D_{yx} f = D_{xy} f^\top$): CGD solves it with conjugate gradients and takes $\Delta y$
    in closed form. A general-sum game's block system is solved with GMRES (`lineax.GMRES`).
    No matrix is formed: each iteration takes two mixed Hessian-vector products, derivatives
    of one player's gradient along the other player's parameters. In a zero-sum game both
    come from one linearisation per step: $D_{xy} f\, v$ forward over reverse, and
    $D_{yx} f\, u$ as its transpose (a general-sum game linearises each player's gradient).
    Both solves are differentiated implicitly (lineax), so a run is differentiable.

    On the bilinear game $f = xy$ a step is a rotation scaled by $1 / \sqrt{1 + \eta^2}$: CGD
    converges for every $\eta > 0$, where simultaneous gradient descent-ascent spirals out.

    A linear solve that does not converge within `max_steps` iterations is reported as
    [`minimax.RESULTS`][]`.max_steps_reached` (GMRES's other failures as lineax reports them,
    promoted): [`minimax.solve`][] undoes that step and stops. Each step reports the iterations of
    its solve in `stats["linear_solve_steps"]`. A model state is the base point's.

    On a constrained game the new point is projected onto the players' feasible sets,
    $(x, y) \leftarrow P(x + \Delta x, y + \Delta y)$: the local game is solved without the
    constraints, then the step is projected (a projected CGD, not the constrained local Nash
    equilibrium).

    **Arguments:**

    - `learning_rate`: the step size $\eta > 0$: a float, an optax schedule (called with the
      number of steps taken), or a traced scalar (e.g. under `jax.vmap`).
    - `rtol`, `atol`: the linear solve's relative and absolute tolerances. CG has converged
      when the residual $r = b - Aw$ has $\|r\| \le \max(\mathrm{rtol}\, \|b\|,
      \mathrm{atol})$ (2-norms over all the player's parameters; the rule of the CGDs
      package, whose `tol` and `atol` are the squares of these), checked before the first
      iteration too. GMRES uses lineax's rule: every entry of the residual within
      `atol + rtol * |b_i|`. The default for each is `eps ** 0.75` for the least precise
      floating dtype of the players: 1.8e-12 in float64, so that a step agrees with a dense
      solve of the same system to well within 1e-10 on small games (the zero-sum matrix's
      eigenvalues are at least 1, so the error in $\Delta x$ is at most $\eta$ times the
      residual), and 6.4e-6 in float32, well above the rounding floor of a float32 residual,
      which a tolerance near `eps` would not reliably reach.
    - `max_steps`: the most iterations of each linear solve: CG iterations, or GMRES restart
      cycles (of up to 20 Krylov vectors each); a solve that has not converged within them
      fails. `None` (default) is `10 * size`, with `size` the number of unknowns (in exact
      arithmetic CG needs at most `size`). With `rtol = atol = 0`, every solve takes exactly
      `max_steps` iterations and counts as converged.
    - `warm_start`: start each solve from the previous step's solution (as CGDs does), rather
      than from zero (default). A warm start costs one more product with the matrix per step
      (two Hessian-vector products) for the starting residual; on the GAN of
      `benchmarks/cgd.py` it saved no iterations (one per step either way), so it is off by
      default.

    ```python
    >>> import jax.numpy as jnp, minimax as mx
    >>> game = mx.ZeroSumGame(lambda x, y, args: x * y)
    >>> sol = mx.solve(game, mx.CGD(0.5), (jnp.array(1.0), jnp.array(1.0)), steps=1)
    >>> x, y = sol.players
    >>> print(f"{float(jnp.hypot(x, y) / jnp.sqrt(2)):.6f}")  # 1 / sqrt(1 + 0.5^2)
    0.894427

    ```

    **References:** Schäfer, Anandkumar (2019), *Competitive gradient descent*, NeurIPS.
    """

    # Checked by `__check_init__`, with clearer messages than a type checker's.
    learning_rate: Any
    rtol: Any = eqx.field(default=None, kw_only=True)
    atol: Any = eqx.field(default=None, kw_only=True)
    max_steps: Any = eqx.field(default=None, static=True, kw_only=True)
    warm_start: bool = eqx.field(default=False, static=True, kw_only=True)

    def __check_init__(self):
        check_scalar("learning_rate", self.learning_rate, low=0, low_open=True, schedule=True)
        _check_tolerances(self.rtol, self.atol, self.max_steps)

    def init(
        self,
        game: AbstractGame,
        players: Players,
        args: Any = None,
        key: PRNGKeyArray | None = None,
        *,
        model_state: PyTree = None,
    ) -> CGDState:
        params, _ = split_players(players)
        zeros = jax.tree.map(jnp.zeros_like, params)
        return CGDState(jnp.zeros([], jnp.int32), zeros)

    def step(
        self,
        game: AbstractGame,
        players: Players,
        state: CGDState,
        args: Any = None,
        key: PRNGKeyArray | None = None,
        *,
        model_state: PyTree = None,
    ) -> Step[CGDState]:
        params, static = split_players(players)
        eta = _learning_rate(self.learning_rate, state.count)
        if isinstance(game, AbstractZeroSumGame):
            field, jac, model_state = _linearised_zero_sum(
                game, params, static, args, key, model_state
            )
            solver = _linear_solver(_CG, self.rtol, self.atol, self.max_steps, params)
            pair, ones = (eta, eta), (1.0, 1.0)
            deltas, solution, result = _zero_sum_solve(
                0, pair, pair, ones, field, jac, state.solution, solver, self.warm_start
            )
        else:
            field, jac, model_state = _linearised(game, params, static, args, key, model_state)
            solver = _linear_solver(lx.GMRES, self.rtol, self.atol, self.max_steps, params)
            deltas, solution, result = _general_sum_solve(
                eta, field, jac, state.solution, solver, self.warm_start
            )
        new = CGDState(state.count + 1, solution)
        return Step(game.projection(_apply(players, deltas)), new, *result, model_state)


class ACGD(AbstractSolver[ACGDState]):
    r"""Adaptive competitive gradient descent (Schäfer, Zheng, Anandkumar 2020): the update of
    [`minimax.CGD`][] with an RMSProp step size for every parameter, as the CGDs package's
    `ACGD` computes it. For zero-sum games $\min_x \max_y f(x, y)$.

    At step $t = 1, 2, \dots$, with $g_x = \nabla_x f$ and $g_y = \nabla_y f$, each player
    keeps a moving average of its squared gradient and takes elementwise step sizes

    $$v_x \leftarrow \beta v_x + (1 - \beta)\, g_x^2, \qquad
    \eta_x = \frac{\eta \sqrt{1 - \beta^t}}{\sqrt{v_x} + \varepsilon}$$

    (and the same for $y$). The step is the Nash equilibrium of the local bilinear game with
    these step sizes,

    $$\Delta x = -\eta_x \big(g_x + D_{xy} f\, \Delta y\big), \qquad
    \Delta y = \eta_y \big(g_y + D_{yx} f\, \Delta x\big).$$

    One player's system is solved by conjugate gradients, symmetrised by $\sqrt{\eta}$; for
    $y$,

    $$\big(I + \sqrt{\eta_y}\, D_{yx} f\, \eta_x\, D_{xy} f \sqrt{\eta_y}\big)\, c
    = \sqrt{\eta_y} \big(g_y - D_{yx} f\, (\eta_x g_x)\big), \qquad
    \Delta y = \sqrt{\eta_y}\, c,$$

    and the other player's step follows in closed form from the first equation. As in CGDs,
    the player solved for alternates, the maximiser $y$ at odd $t$ and the minimiser $x$ at
    even $t$ (with exact solves the two give the same step); with `warm_start=True` each solve
    starts from that player's last solution, as in CGDs. On a constrained game the new point
    is projected, as in [`minimax.CGD`][].

    CG stops on CGDs' rule, as in [`minimax.CGD`][]: CGDs' `tol` and `atol` are the squares of
    `rtol` and `atol` here (its defaults `tol=1e-12`, `atol=1e-20` are `rtol=1e-6`,
    `atol=1e-10`). After `size` iterations CGDs carries on with whatever CG reached; here a
    solve that does not converge is [`minimax.RESULTS`][]`.max_steps_reached`, and each step
    reports its CG iterations in `stats["linear_solve_steps"]`.

    **Arguments:**

    - `learning_rate`: the base step size $\eta > 0$: a float, an optax schedule (called with
      the number of steps taken), or a traced scalar.
    - `beta`: the second moments' decay rate, in `[0, 1)` (default 0.99, as in CGDs).
    - `eps`: $\varepsilon > 0$, added to $\sqrt{v}$ (default 1e-8; CGDs' default is 1e-5).
    - `rtol`, `atol`, `max_steps`, `warm_start`: the linear solves' tolerances, iteration
      limit and start, as in [`minimax.CGD`][].

    A general-sum game is refused with a `TypeError` (CGDs' `ACGD` is zero-sum only): use
    [`minimax.CGD`][], which solves those with GMRES.

    **References:** Schäfer, Zheng, Anandkumar (2020), *Implicit competitive regularization in
    GANs*, ICML; Schäfer, Anandkumar (2019), *Competitive gradient descent*, NeurIPS; the CGDs
    package (PyPI `CGDs`, class `ACGD`).
    """

    # Checked by `__check_init__`, with clearer messages than a type checker's.
    learning_rate: Any
    beta: Any = eqx.field(default=0.99, kw_only=True)
    eps: Any = eqx.field(default=1e-8, kw_only=True)
    rtol: Any = eqx.field(default=None, kw_only=True)
    atol: Any = eqx.field(default=None, kw_only=True)
    max_steps: Any = eqx.field(default=None, static=True, kw_only=True)
    warm_start: bool = eqx.field(default=False, static=True, kw_only=True)

    def __check_init__(self):
        check_scalar("learning_rate", self.learning_rate, low=0, low_open=True, schedule=True)
        check_scalar("beta", self.beta, low=0, high=1, high_open=True)
        check_scalar("eps", self.eps, low=0, low_open=True)
        _check_tolerances(self.rtol, self.atol, self.max_steps)

    def _check_game(self, game: AbstractGame) -> None:
        if not isinstance(game, AbstractZeroSumGame):
            raise TypeError(
                f"ACGD solves zero-sum games (a minimax.AbstractZeroSumGame), got a "
                f"{type(game).__name__}, which is general-sum. Use minimax.CGD, which solves "
                "general-sum games with GMRES, or write the game as a minimax.ZeroSumGame."
            )

    def init(
        self,
        game: AbstractGame,
        players: Players,
        args: Any = None,
        key: PRNGKeyArray | None = None,
        *,
        model_state: PyTree = None,
    ) -> ACGDState:
        self._check_game(game)
        params, _ = split_players(players)
        zeros = jax.tree.map(jnp.zeros_like, params)
        return ACGDState(jnp.zeros([], jnp.int32), zeros, zeros)

    def step(
        self,
        game: AbstractGame,
        players: Players,
        state: ACGDState,
        args: Any = None,
        key: PRNGKeyArray | None = None,
        *,
        model_state: PyTree = None,
    ) -> Step[ACGDState]:
        self._check_game(game)
        params, static = split_players(players)
        field, jac, model_state = _linearised_zero_sum(game, params, static, args, key, model_state)
        t = state.count + 1
        beta = self.beta
        moments = jax.tree.map(
            lambda v, g: jnp.asarray(beta, v.dtype) * v + jnp.asarray(1 - beta, v.dtype) * g * g,
            state.second_moments,
            field,
        )
        lr = _learning_rate(self.learning_rate, state.count)
        correction = jnp.sqrt(1 - jnp.asarray(beta) ** t) * lr
        eta = jax.tree.map(
            lambda v: correction.astype(v.dtype) / (jnp.sqrt(v) + jnp.asarray(self.eps, v.dtype)),
            moments,
        )
        solver = _linear_solver(_CG, self.rtol, self.atol, self.max_steps, params)
        scale = _sqrt(eta)

        def solve_for(i):
            return lambda: _zero_sum_solve(
                i, eta, scale, scale, field, jac, state.solution, solver, self.warm_start
            )

        deltas, solution, result = jax.lax.cond(t % 2 == 1, solve_for(1), solve_for(0))
        new = ACGDState(t, solution, moments)
        return Step(game.projection(_apply(players, deltas)), new, *result, model_state)
