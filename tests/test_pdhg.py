"""Linear programs in general form, the MPS reader, and PDHG with PDLP's rules."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import sparse

import games
import minimax as mx
from minimax._solver.pdhg import relative_kkt_error

INF = np.inf

# min x1 + x2 + 5 s.t. x1 - x2 = 0, x1 + x2 >= 1, 0 <= x1 <= 2, x2 free: x* = (1/2, 1/2),
# value 6. Duals: x2 is free and x1 inside its bounds, so both reduced costs c - K^T y vanish:
# 1 - yA - yG = 0 and 1 + yA - yG = 0, so yA = 0, yG = 1; dual objective q^T y + 5 = 6.
GENERAL = games.LinearProgram(
    [1.0, 1.0],
    A=[[1.0, -1.0]],
    b=[0.0],
    G=[[1.0, 1.0]],
    h=[1.0],
    lower=[0.0, -INF],
    upper=[2.0, INF],
    objective_constant=5.0,
)
GENERAL_OPTIMUM = (jnp.array([0.5, 0.5]), jnp.array([0.0, 1.0]))

PDHG = mx.PDHG(tol=1e-8)
STEPS = 4096


def run(game, players=None, solver=PDHG, steps=STEPS):
    """The run's answer, its solver state, whether it stopped before `steps`, its result."""
    players = game.init_players() if players is None else players
    sol = mx.solve(game, solver, players, steps=steps, save_every=None, throw=False)
    return sol.answer, sol, bool(sol.stats["steps"] < steps), sol.result


# The general form, by hand


def test_general_form_by_hand():
    lp = GENERAL
    assert lp.K.shape == (2, 2) and lp.n_equalities == 1
    np.testing.assert_array_equal(lp.inequality, [False, True])
    assert float(lp.kkt_error(GENERAL_OPTIMUM)) == 0.0
    np.testing.assert_allclose(lp.objective(GENERAL_OPTIMUM), 6.0)
    np.testing.assert_allclose(lp.dual_objective(GENERAL_OPTIMUM), 6.0)
    # x = (0, 0): the inequality is violated by 1; |q| = 1.
    x, y = jnp.zeros(2), jnp.array([0.0, 1.0])
    np.testing.assert_allclose(lp.relative_primal_residual((x, y)), 1 / 2)
    # y = (1, 1): reduced costs c - K^T y = (-1, 1); x1 has both bounds, so any sign is
    # fine, but x2 is free: its reduced cost must be 0. |c| = sqrt(2).
    y = jnp.array([1.0, 1.0])
    np.testing.assert_allclose(lp.relative_dual_residual((x, y)), 1 / (1 + np.sqrt(2)))
    # A negative inequality multiplier is a dual error too: y = (0, -1), reduced costs (2, 2).
    np.testing.assert_allclose(
        lp.relative_dual_residual((x, jnp.array([0.0, -1.0]))), np.sqrt(5) / (1 + np.sqrt(2))
    )
    # The projections: the box for x, y_G >= 0, y_A free.
    np.testing.assert_array_equal(lp.project_player(0, jnp.array([3.0, -7.0])), [2.0, -7.0])
    np.testing.assert_array_equal(lp.project_player(1, jnp.array([-1.0, -1.0])), [-1.0, 0.0])
    x0, y0 = lp.init_players()
    np.testing.assert_array_equal(x0, [0.0, 0.0])
    assert y0.shape == (2,)
    # Views of the data as written.
    np.testing.assert_array_equal(lp.A, [[1.0, -1.0]])
    np.testing.assert_array_equal(lp.G, [[1.0, 1.0]])
    np.testing.assert_array_equal(lp.b, [0.0])
    np.testing.assert_array_equal(lp.h, [1.0])
    # The value is the Lagrangian, with the constant.
    np.testing.assert_allclose(lp.value(x0, jnp.array([2.0, 3.0])), 5.0 - 3.0 * (0.0 - 1.0))


def test_init_players_projects_into_the_bounds():
    lp = games.LinearProgram([1.0, 1.0, 1.0], lower=[1.0, -INF, -3.0], upper=[2.0, -1.0, INF])
    x, y = lp.init_players()
    np.testing.assert_array_equal(x, [1.0, -1.0, 0.0])
    assert y.shape == (0,)


def test_sparse_matches_dense():
    scipy_sparse = pytest.importorskip("scipy.sparse")
    A, G = np.array([[1.0, -1.0]]), np.array([[1.0, 1.0]])
    z = (jnp.array([0.3, 0.9]), jnp.array([0.2, 0.5]))
    common = dict(lower=[0.0, -INF], upper=[2.0, INF], objective_constant=5.0)
    for A_, G_ in (
        (sparse.BCOO.fromdense(A), G),
        (scipy_sparse.csr_matrix(A), scipy_sparse.coo_matrix(G)),
    ):
        lp = games.LinearProgram([1.0, 1.0], A_, [0.0], G_, [1.0], **common)
        assert isinstance(lp.K, sparse.BCOO)
        np.testing.assert_allclose(lp.kkt_error(z), GENERAL.kkt_error(z), rtol=1e-14)
        np.testing.assert_allclose(lp.value(*z), GENERAL.value(*z), rtol=1e-14)
    (x, _), _, done, _ = run(lp)
    assert done and np.allclose(x, GENERAL_OPTIMUM[0], atol=1e-7)


# Validation


def test_lp_validation():
    with pytest.raises(ValueError, match="`c` must have at least one entry"):
        games.LinearProgram(jnp.zeros(0))
    for name, kwargs in {
        "c": dict(c=[1.0, jnp.nan]),
        "A": dict(A=[[1.0, jnp.inf]], b=[1.0]),
        "b": dict(A=[[1.0, 1.0]], b=[jnp.nan]),
        "G": dict(G=sparse.BCOO.fromdense(jnp.array([[jnp.nan, 1.0]])), h=[1.0]),
        "h": dict(G=[[1.0, 1.0]], h=[-jnp.inf]),
    }.items():
        kwargs = {"c": [1.0, 1.0], **kwargs}
        with pytest.raises(ValueError, match=f"`{name}` must be finite"):
            games.LinearProgram(**kwargs)
    with pytest.raises(ValueError, match="`lower` must not hold NaN"):
        games.LinearProgram([1.0], lower=jnp.nan)
    with pytest.raises(ValueError, match="variable 1 has lower = 3.0 and upper = 2.0"):
        games.LinearProgram([1.0, 1.0], lower=[0.0, 3.0], upper=2.0)
    with pytest.raises(ValueError, match="lower < inf"):
        games.LinearProgram([1.0], lower=INF)
    with pytest.raises(ValueError, match="`G` was given without `h`"):
        games.LinearProgram([1.0], G=[[1.0]])
    with pytest.raises(ValueError, match="`b` was given without `A`"):
        games.LinearProgram([1.0], b=[1.0])
    with pytest.raises(ValueError, match="not an optimal pair.*KKT error is 0.309"):
        games.LinearProgram([1.0, 2.0], [[1.0, 1.0]], [1.0], solution=([0.0, 1.0], [2.0]))
    lp = games.LinearProgram([1.0, 2.0], [[1.0, 1.0]], [1.0], solution=([1.0, 0.0], [1.0]))
    assert tree_equal(lp.equilibrium(), (jnp.array([1.0, 0.0]), jnp.array([1.0])))
    # NumPy integers are ints.
    lp = games.LinearProgram.random(jax.random.key(0), np.int64(3), np.int32(5))
    assert lp.K.shape == (3, 5)


def tree_equal(a, b):
    return all(
        np.array_equal(u, v) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


def test_lp_without_constraints():
    """m = 0: the minimum of c^T x over the box, at its corners (no multipliers)."""
    lp = games.LinearProgram([1.0, -2.0], lower=[-1.0, 0.0], upper=[1.0, 3.0])
    assert lp.K.shape == (0, 2)
    (x, y), _, done, _ = run(lp)
    assert done and y.shape == (0,)
    np.testing.assert_allclose(x, [-1.0, 3.0])
    assert float(lp.kkt_error((x, y))) == 0.0


def test_matrix_games_refuse_nonfinite_data():
    with pytest.raises(ValueError, match="`M` must be finite"):
        games.MatrixGame([[1.0, jnp.nan], [0.0, 1.0]])
    with pytest.raises(ValueError, match="`B` must be finite"):
        games.BimatrixGame([[1.0]], [[jnp.inf]])


# MPS

MPS = """\
* every section, row type, bound type and range sign
NAME          TESTLP
ROWS
 N  COST
 E  EQ1
 L  LE1
 G  GE1
 E  RNGE1
 E  RNGE2
 L  RNGL
 G  RNGG
 N  SPARE
COLUMNS
    X1        COST         1.0   EQ1          1.0
    X1        LE1          2.0   SPARE        7.0
    MARKER                 'MARKER'                 'INTORG'
    X2        COST        -2.0   GE1          1.0
    X2        RNGE1        1.0   RNGE2        1.0
    MARKER                 'MARKER'                 'INTEND'
    X3        EQ1          1.0
    X4        RNGG         1.0   COST         0.5
    X5        COST         1.0   RNGL         1.0
    X6        COST         1.0
    X7        COST         1.0
    X8        COST         1.0
    X9        COST        -1.0
RHS
    RHS       COST        -3.5   EQ1          2.0
    RHS       LE1          4.0   GE1          1.0
    RHS       RNGE1        1.0   RNGE2        5.0
    RHS       RNGL         6.0   RNGG         7.0
RANGES
    RNG       RNGE1        2.0   RNGE2       -3.0
    RNG       RNGL        -1.5   RNGG         2.5
BOUNDS
 UP BND       X1           4.0
 LO BND       X2          -1.0
 UI BND       X2           8.0
 FX BND       X3           1.5
 FR BND       X4
 MI BND       X5
 UP BND       X6           3.0
 PL BND       X6
 BV BND       X7
 LI BND       X8           2.0
 UP BND       X9          -2.0
ENDATA
"""

# Rows of K (equalities first): EQ1; then LE1 negated, GE1, and each ranged row as two.
MPS_K = np.zeros((10, 9))
MPS_K[0, [0, 2]] = 1.0  # EQ1: x1 + x3 = 2
MPS_K[1, 0] = -2.0  # LE1: 2 x1 <= 4
MPS_K[2, 1] = 1.0  # GE1: x2 >= 1
MPS_K[3, 1], MPS_K[4, 1] = 1.0, -1.0  # RNGE1, R = 2 > 0: 1 <= x2 <= 3
MPS_K[5, 1], MPS_K[6, 1] = 1.0, -1.0  # RNGE2, R = -3 < 0: 2 <= x2 <= 5
MPS_K[7, 4], MPS_K[8, 4] = 1.0, -1.0  # RNGL, |R| = 1.5: 4.5 <= x5 <= 6
MPS_K[9, 3] = 1.0  # RNGG, |R| = 2.5: 7 <= x4 <= 9.5, as x4 >= 7 and -x4 >= -9.5
MPS_K = np.vstack([MPS_K, np.eye(9)[[3]] * -1.0])
MPS_Q = np.array([2.0, -4.0, 1.0, 1.0, -3.0, 2.0, -5.0, 4.5, -6.0, 7.0, -9.5])
MPS_LOWER = [0.0, -1.0, 1.5, -INF, -INF, 0.0, 0.0, 2.0, -INF]
MPS_UPPER = [4.0, 8.0, 1.5, INF, INF, INF, 1.0, INF, -2.0]


def _check_mps_lp(lp):
    np.testing.assert_array_equal(lp.c, [1.0, -2.0, 0.0, 0.5, 1.0, 1.0, 1.0, 1.0, -1.0])
    assert lp.n_equalities == 1
    np.testing.assert_array_equal(
        np.asarray(lp.K.todense() if hasattr(lp.K, "todense") else lp.K), MPS_K
    )
    np.testing.assert_array_equal(lp.q, MPS_Q)
    np.testing.assert_array_equal(lp.lower, MPS_LOWER)
    np.testing.assert_array_equal(lp.upper, MPS_UPPER)
    assert float(lp.objective_constant) == 3.5  # minus the RHS on the objective row


def test_mps_free_format(tmp_path):
    path = tmp_path / "test.mps"
    path.write_text(MPS)
    _check_mps_lp(games.LinearProgram.from_mps(path))
    sparse_lp = games.LinearProgram.from_mps(path, dense=False)
    assert isinstance(sparse_lp.K, sparse.BCOO)
    _check_mps_lp(sparse_lp)


def _fixed(f1="", f2="", f3="", f4="", f5="", f6=""):
    return f" {f1:<2} {f2:<8}  {f3:<8}  {f4:>12}   {f5:<8}  {f6:>12}".rstrip()


def test_mps_fixed_format_names_with_spaces(tmp_path):
    """min x + 2 y s.t. x + y >= 1 (row 'ROW 1'), x <= 3, with names that hold spaces."""
    text = "\n".join(
        [
            "NAME          FIXED",
            "ROWS",
            _fixed("N", "OBJ ROW"),
            _fixed("G", "ROW 1"),
            "COLUMNS",
            _fixed("", "X 1", "OBJ ROW", "1.0", "ROW 1", "1.0"),
            _fixed("", "Y 1", "OBJ ROW", "2.0", "ROW 1", "1.0"),
            "RHS",
            _fixed("", "", "ROW 1", "1.0"),
            "BOUNDS",
            _fixed("UP", "B", "X 1", "3.0"),
            "ENDATA",
        ]
    )
    path = tmp_path / "fixed.mps"
    path.write_text(text)
    lp = games.LinearProgram.from_mps(path, fixed=True)
    np.testing.assert_array_equal(lp.c, [1.0, 2.0])
    np.testing.assert_array_equal(lp.G, [[1.0, 1.0]])
    np.testing.assert_array_equal(lp.h, [1.0])
    np.testing.assert_array_equal(lp.upper, [3.0, INF])


@pytest.mark.parametrize(
    "text, message",
    [
        (MPS.replace(" LI BND       X8           2.0", " SC BND       X8           2.0"), "SC"),
        (MPS.replace("ROWS", "OBJSENSE\n    MAX\nROWS"), "OBJSENSE MAX"),
        (MPS.replace(" N  COST\n", ""), "unknown row 'COST'"),
        (MPS.replace(" UP BND       X1", " XX BND       X1"), "unknown bound type 'XX'"),
        (MPS.replace("RHS       COST        -3.5", "RHS       COST        abc"), "a number"),
        (MPS.replace("BOUNDS", "BOUNDARIES"), "unknown section 'BOUNDARIES'"),
    ],
    ids=["SC", "MAX", "row", "bound", "number", "section"],
)
def test_mps_refusals(tmp_path, text, message):
    path = tmp_path / "bad.mps"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        games.LinearProgram.from_mps(path)


def test_mps_lp_solves(tmp_path):
    """The MPS test LP solved by PDHG matches HiGHS on the same data."""
    scipy_optimize = pytest.importorskip("scipy.optimize")
    path = tmp_path / "test.mps"
    path.write_text(MPS.replace(" FR BND       X4\n", "").replace(" MI BND       X5\n", ""))
    lp = games.LinearProgram.from_mps(path)
    res = scipy_optimize.linprog(
        np.asarray(lp.c),
        A_ub=-np.asarray(lp.G),
        b_ub=-np.asarray(lp.h),
        A_eq=np.asarray(lp.A),
        b_eq=np.asarray(lp.b),
        bounds=list(zip(np.asarray(lp.lower), np.asarray(lp.upper), strict=True)),
        method="highs",
    )
    assert res.status == 0
    (x, y), _, done, result = run(lp)
    assert done and result == mx.RESULTS.successful
    assert float(lp.kkt_error((x, y))) <= 1e-8
    np.testing.assert_allclose(lp.objective((x, y)), res.fun + 3.5, rtol=1e-7)


# PDHG


def test_pdhg_solves_the_general_form():
    (x, y), _, done, result = run(GENERAL)
    assert done and result == mx.RESULTS.successful
    np.testing.assert_allclose(x, GENERAL_OPTIMUM[0], atol=1e-7)
    np.testing.assert_allclose(y, GENERAL_OPTIMUM[1], atol=1e-7)
    assert float(GENERAL.kkt_error((x, y))) <= 1e-8


def test_pdhg_matches_highs_and_counts():
    scipy_optimize = pytest.importorskip("scipy.optimize")
    lp = games.LinearProgram.random(jax.random.key(1), 10, 30)
    res = scipy_optimize.linprog(
        np.asarray(lp.c), A_eq=np.asarray(lp.A), b_eq=np.asarray(lp.b), method="highs"
    )
    (x, y), sol, done, _ = run(lp)
    assert done
    np.testing.assert_allclose(x, res.x, atol=1e-6)
    np.testing.assert_allclose(y, res.eqlin.marginals, atol=1e-6)
    # The solver's own KKT error is the game's.
    s = sol.state.solver
    mine = relative_kkt_error(
        s.original, s.x * s.col, s.y * s.row, lp.K @ (s.x * s.col), lp.K.T @ (s.y * s.row)
    )
    np.testing.assert_allclose(mine, lp.kkt_error((s.x * s.col, s.y * s.row)), rtol=1e-10)
    # The run stopped within a block of convergence. Restarts happened; each step takes at
    # least two products.
    steps, iterations = int(sol.stats["steps"]), int(s.iteration)
    assert iterations <= steps < iterations + 64
    assert int(sol.stats["restarts"]) >= 2
    assert 2 * iterations <= int(sol.stats["matvecs"]) <= 11 * iterations


def test_pdhg_plays_in_the_game_variables():
    """On a game that plays in rescaled variables, PDHG answers in those variables."""
    lp = games.LinearProgram.random(jax.random.key(2), 10, 30, rescale=True)
    (x, y), _, done, _ = run(lp)
    assert done and float(lp.kkt_error((x, y))) <= 1e-8
    x_star, y_star = lp.solution
    np.testing.assert_allclose(lp.unscale((x, y))[0], x_star, atol=1e-6)
    np.testing.assert_allclose(lp.unscale((x, y))[1], y_star, atol=1e-6)


INFEASIBLE = {
    # x1 + x2 = -1 with x >= 0: y = -1 proves it (b^T y = 1 > 0, -A^T y >= 0).
    "primal, equality": (
        games.LinearProgram([1.0, 1.0], A=[[1.0, 1.0]], b=[-1.0]),
        mx.RESULTS.primal_infeasible,
    ),
    # x1 >= 2 and x1 <= 1 for a free x (of the same shape as the last LP: one compilation).
    "primal, inequalities": (
        games.LinearProgram([1.0, 0.0], G=[[1.0, 0.0], [-1.0, 0.0]], h=[2.0, -1.0], lower=-INF),
        mx.RESULTS.primal_infeasible,
    ),
    # min -x1 s.t. x1 = x2, x >= 0: unbounded along (1, 1).
    "dual, equality": (
        games.LinearProgram([-1.0, 0.0], A=[[1.0, -1.0]], b=[0.0]),
        mx.RESULTS.dual_infeasible,
    ),
    # min x1 - x2 s.t. x1 + x2 >= 1 (and 0 >= -1), free: unbounded along (-1, 1).
    "dual, inequality": (
        games.LinearProgram([1.0, -1.0], G=[[1.0, 1.0], [0.0, 0.0]], h=[1.0, -1.0], lower=-INF),
        mx.RESULTS.dual_infeasible,
    ),
}


@pytest.mark.parametrize("name", list(INFEASIBLE))
def test_pdhg_certificates(name):
    lp, expected = INFEASIBLE[name]
    (x, y), _, done, result = run(lp)
    assert done and result == expected
    K, q = np.asarray(lp.K), np.asarray(lp.q)
    ineq = np.asarray(lp.inequality)
    lower, upper = np.asarray(lp.lower), np.asarray(lp.upper)
    if expected == mx.RESULTS.primal_infeasible:
        # A Farkas ray: y_G >= 0, r = -K^T y >= 0 where bounded below (<= 0 above, 0 if free),
        # and q^T y + l^T r+ + u^T r- > 0.
        y = np.asarray(y)
        assert np.all(x == 0) and np.all(y[ineq] >= 0)
        r = -K.T @ y
        assert np.all(np.where(np.isfinite(lower), 0, np.abs(np.maximum(r, 0))) <= 1e-8)
        assert np.all(np.where(np.isfinite(upper), 0, np.abs(np.minimum(r, 0))) <= 1e-8)
        pay = np.where(np.isfinite(lower), lower, 0) @ np.maximum(r, 0)
        assert q @ y + pay > 0
    else:
        # A ray: K x = 0 on equalities, >= 0 on inequalities, in the bounds' cone, c^T x < 0.
        x = np.asarray(x)
        assert np.all(y == 0)
        Kx = K @ x
        assert np.all(np.abs(Kx[~ineq]) <= 1e-8) and np.all(Kx[ineq] >= -1e-8)
        assert float(np.asarray(lp.c) @ x) < 0 and np.abs(x).max() == 1


def test_pdhg_reports_tolerance_not_reached():
    """Before it has converged, PDHG's verdict (what a run that ends there reports) is not
    `successful`."""
    players = GENERAL.init_players()
    done, result = PDHG.terminate(GENERAL, players, PDHG.init(GENERAL, players))
    assert not bool(done) and result == mx.RESULTS.tolerance_not_reached


def test_pdhg_batches_stop_each_at_its_own_answer():
    """vmap over the cost and the right-hand side: each LP gets its own optimum, and an LP that
    converged stops moving while the others go on."""
    base = games.LinearProgram.random(jax.random.key(1), 4, 10)
    x_star, y_star = base.solution
    shifts = jnp.array([0.0, 0.5, 2.0])

    def solve_one(shift):
        # Same basis and duals, other costs off the basis and another x*: still optimal.
        c = base.c + shift * (x_star == 0)
        b = base.A @ (x_star * (1 + shift))
        lp = games.LinearProgram(c, base.A, b)
        sol = mx.solve(lp, PDHG, lp.init_players(), steps=STEPS, save_every=None)
        iterations = sol.state.solver.iteration
        return sol.answer, iterations, lp.kkt_error(sol.answer), sol.result, sol.stats["steps"]

    (x, y), iterations, errors, results, steps = jax.vmap(solve_one)(shifts)
    assert bool(jnp.all(results == mx.RESULTS.successful))
    for i, shift in enumerate(shifts):
        np.testing.assert_allclose(x[i], x_star * (1 + shift), atol=1e-6)
        np.testing.assert_allclose(y[i], y_star, atol=1e-6)
    assert float(errors.max()) <= 1e-8
    assert len(set(np.asarray(iterations).tolist())) > 1  # each stopped when it converged
    assert int(steps.max()) < int(iterations.max()) + 64  # the batch, when the last one did


def test_pdhg_solves_matrix_games():
    game = games.MatrixGame.random(jax.random.key(0), 12, 9)
    z = (jnp.full(12, 1 / 12), jnp.full(9, 1 / 9))
    solver = mx.PDHG(tol=1e-7)
    (x, y), _, done, _ = run(game, z, solver)
    assert done and float(game.duality_gap((x, y))) <= 1e-7
    assert abs(float(x.sum()) - 1) < 1e-12 and float(x.min()) >= 0


def test_pdhg_checks_its_arguments_and_game():
    with pytest.raises(ValueError, match="`tol` must be non-negative"):
        mx.PDHG(tol=-1.0)
    with pytest.raises(ValueError, match=r"`sufficient` must be in \(0, 1\]"):
        mx.PDHG(sufficient=0.0)
    with pytest.raises(ValueError, match="`check_every` must be a positive int"):
        mx.PDHG(check_every=0)
    assert mx.PDHG(check_every=np.int64(32)).check_every == 32
    game = mx.ZeroSumGame(lambda x, y, args: x * y)
    with pytest.raises(TypeError, match="needs a game with a bilinear coupling"):
        mx.solve(game, PDHG, (jnp.array(1.0), jnp.array(1.0)), steps=1)


# Bimatrix games


def test_bimatrix_game():
    # Battle of the sexes as losses: both lose -2/-1 when they meet (each prefers its own
    # event), 0 otherwise. Pure equilibria (0, 0) and (1, 1); a mixed one with x = (2/3, 1/3),
    # y = (1/3, 2/3).
    A = jnp.array([[-2.0, 0.0], [0.0, -1.0]])
    B = jnp.array([[-1.0, 0.0], [0.0, -2.0]])
    game = games.BimatrixGame(A, B)
    first = jnp.array([1.0, 0.0])
    assert float(game.nash_gap((first, first))) == 0.0
    mixed = (jnp.array([2 / 3, 1 / 3]), jnp.array([1 / 3, 2 / 3]))
    assert float(game.nash_gap(mixed)) < 1e-15
    # Mismatched pure strategies: each gains by switching to the other's event.
    second = jnp.array([0.0, 1.0])
    rx, ry = game.regrets((first, second))
    np.testing.assert_allclose((rx, ry), (1.0, 1.0))
    loss_x, loss_y = game.losses(mixed)
    np.testing.assert_allclose((loss_x, loss_y), (-2 / 3, -2 / 3))
    # B = -A: the zero-sum matrix game; its Nash gap is at most its duality gap.
    rps = games.MatrixGame.rock_paper_scissors()
    zero_sum = games.BimatrixGame(rps.M, -rps.M)
    z = (jnp.array([0.5, 0.25, 0.25]), jnp.array([0.2, 0.3, 0.5]))
    assert float(zero_sum.nash_gap(z)) <= float(rps.duality_gap(z)) + 1e-12
    # Solvers run on it, projected onto the simplices.
    sol = mx.solve(zero_sum, mx.Simultaneous(mx.optimistic_gradient(0.1)), z, steps=2000)
    assert float(zero_sum.nash_gap(sol.players)) < 1e-5
    with pytest.raises(ValueError, match="same shape"):
        games.BimatrixGame(A, B[:1])
    with pytest.raises(NotImplementedError, match="nash_gap"):
        game.equilibrium()


def test_matrix_game_lipschitz():
    game = games.MatrixGame.rock_paper_scissors()
    np.testing.assert_allclose(game.lipschitz, np.sqrt(3), rtol=1e-6)
