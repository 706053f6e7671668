"""Competitive gradient descent (CGD) and adaptive CGD (ACGD): against dense solves of the same
systems, the closed form on f = xy, the CGDs package's ACGD, failures and bad input."""

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import optax
import pytest

import games
import minimax as mx
from minimax._solver.cgd import _CG  # the linear solver itself, for its stopping rule

from .helpers import tree_allclose

XY = mx.ZeroSumGame(lambda x, y, args: x * y)
Z0 = (jnp.array(1.0), jnp.array(0.5))
BILINEAR = games.Bilinear.random(jax.random.key(0), 5, 3, sigma_min=0.5, sigma_max=2.0, linear=True)
QUADRATIC = games.QuadraticSaddle.random(jax.random.key(1), 4, 6, linear=True)


def _loss0(x, y, args):
    return jnp.sum(jnp.sin(x) * jnp.cos(y[:3])) + 0.5 * x @ x + jnp.sum(x[:2] * y[1:3] ** 2)


def _loss1(x, y, args):
    return jnp.sum(jnp.tanh(x[:2]) * y[:2]) ** 2 + 0.3 * y @ y - jnp.sum(x * y[:3])


GENERAL = mx.GeneralSumGame(_loss0, _loss1)  # x in R^3, y in R^4, no common potential
SCHEDULE = optax.linear_schedule(0.2, 0.8, 3)
CGD = mx.CGD(0.3)
CGD_SCHEDULE = mx.CGD(SCHEDULE)


@eqx.filter_jit
def _step(solver, game, players, state, key):
    return solver.step(game, players, state, None, key)


def _run(solver, game, players, steps, key=None):
    """`steps` steps, one compiled step reused: the points visited, start included."""
    state = solver.init(game, players)
    rows = [players]
    for t in range(steps):
        step_key = None if key is None else jax.random.fold_in(key, t)
        out = _step(solver, game, players, state, step_key)
        assert out.result == mx.RESULTS.successful and int(out.stats["linear_solve_steps"]) > 0
        players, state = out
        rows.append(players)
    return rows


def _start(n, m, seed=2):
    kx, ky = jax.random.split(jax.random.key(seed))
    return jax.random.normal(kx, (n,)), jax.random.normal(ky, (m,))


@eqx.filter_jit
def _dense_step(game, x, y, eta):
    """One CGD step by a dense solve of the block system
    [[I, eta J01], [eta J10, I]] (dx, dy) = -eta F, with the field's Jacobian blocks."""

    def field(x, y):
        return game.vector_field((x, y))

    eta = jnp.asarray(eta, x.dtype)
    f0, f1 = field(x, y)
    j01 = jax.jacfwd(lambda y_: field(x, y_)[0])(y)
    j10 = jax.jacfwd(lambda x_: field(x_, y)[1])(x)
    n, m = x.size, y.size
    matrix = jnp.block([[jnp.eye(n), eta * j01], [eta * j10, jnp.eye(m)]])
    delta = jnp.linalg.solve(matrix, -eta * jnp.concatenate([f0, f1]))
    return x + delta[:n], y + delta[n:]


@eqx.filter_jit
def _dense_zero_sum_step(game, x, y, eta):
    """The zero-sum formula of Schäfer & Anandkumar (2019), with f = game.value."""
    eta = jnp.asarray(eta, x.dtype)
    gx, gy = jax.grad(game.value, (0, 1))(x, y)
    dxy = jax.jacfwd(jax.grad(game.value, 0), 1)(x, y)
    matrix = jnp.eye(x.size) + eta**2 * dxy @ dxy.T
    dx = -eta * jnp.linalg.solve(matrix, gx + eta * dxy @ gy)
    dy = eta * jnp.linalg.solve(jnp.eye(y.size) + eta**2 * dxy.T @ dxy, gy - eta * dxy.T @ gx)
    return x + dx, y + dy


@pytest.mark.parametrize("name", ["bilinear", "quadratic", "quadratic, warm", "general"])
def test_matches_dense_solve(name):
    """Three steps (a schedule on the bilinear game, warm-started solves on the quadratic one)
    against dense solves from each point: of the paper's two zero-sum formulas, or of the
    general-sum block system."""
    game, solver, eta = {
        "bilinear": (BILINEAR, CGD_SCHEDULE, SCHEDULE),
        "quadratic": (QUADRATIC, CGD, lambda t: 0.3),
        "quadratic, warm": (QUADRATIC, mx.CGD(0.3, warm_start=True), lambda t: 0.3),
        "general": (GENERAL, CGD, lambda t: 0.3),
    }[name]
    n, m = (3, 4) if name == "general" else game.A.shape
    rows = _run(solver, game, _start(n, m), 3)
    dense = _dense_step if name == "general" else _dense_zero_sum_step
    for t in range(3):
        step = jnp.asarray(t, jnp.int32)  # what the solver calls a schedule with
        assert tree_allclose(rows[t + 1], dense(game, *rows[t], eta(step)), atol=1e-10)
    assert not tree_allclose(rows[1], rows[0], atol=1e-3)


def test_contraction_on_xy_and_vmap():
    """On f = xy a step is a rotation scaled by 1/sqrt(1 + eta^2), for every eta; a vmap over
    the learning rate is the same as separate runs."""
    etas = jnp.array([0.1, 0.2, 0.5])
    batched = jax.vmap(lambda eta: mx.solve(XY, mx.CGD(eta), Z0, steps=10).trajectory)(etas)
    d = jnp.hypot(*batched)
    ratios = d[:, 1:] / d[:, :-1]
    for ratio, want in zip(ratios, [0.995037, 0.980581, 0.894427], strict=True):
        np.testing.assert_allclose(ratio, want, atol=1e-6)
    want = jnp.broadcast_to(1 / jnp.sqrt(1 + etas[:, None] ** 2), ratios.shape)
    np.testing.assert_allclose(ratios, want, rtol=1e-12)
    for i, eta in enumerate(etas):
        rows = jax.tree.map(lambda *a: jnp.stack(a), *_run(mx.CGD(eta), XY, Z0, 10))
        assert tree_allclose(rows, (batched[0][i], batched[1][i]), atol=1e-14)


def test_differentiable_in_the_learning_rate():
    """On f = xy, |z_3| = |z_0| (1 + eta^2)^(-3/2): reverse mode through `solve` (implicit
    differentiation of the linear solves) gives its derivative."""

    def distance(eta):
        return jnp.hypot(*mx.solve(XY, mx.CGD(eta), Z0, steps=3, save_every=None).players)

    eta = 0.5
    want = -3 * eta * jnp.hypot(*Z0) * (1 + eta**2) ** -2.5
    np.testing.assert_allclose(jax.grad(distance)(eta), want, rtol=1e-10)


def test_converges_on_full_rank_bilinear():
    game = games.Bilinear.random(jax.random.key(3), 4, sigma_min=0.5, sigma_max=2.0, linear=True)
    z0 = _start(4, 4)
    x, y = _run(mx.CGD(2.0), game, z0, 60)[-1]  # each step contracts by 1/sqrt(1 + 4 s^2)
    x_star, y_star = game.equilibrium()
    gap = jnp.concatenate([x - x_star, y - y_star])
    assert jnp.linalg.norm(gap) < 1e-7 * jnp.linalg.norm(jnp.concatenate(z0))


# The CGDs package (PyPI CGDs 0.4.5) run in float64 on this game, with its CG iteration limit
# raised (`general_conjugate_gradient(..., nsteps=50)`) and tol=1e-28, atol=1e-40 so that its
# solves converge: `ACGD(max_params=[y], min_params=[x], lr_max=0.5, lr_min=0.5, beta=0.9,
# eps=1e-8)` stepping on `loss = f(x, y)`: x and y at steps 0 to 6.
CGDS_GAME = games.QuadraticSaddle(
    [[1.0, -0.5], [0.3, 2.0], [-1.2, 0.4]],  # A
    [[0.5, 0.1, 0.0], [0.1, 0.3, 0.0], [0.0, 0.0, 0.2]],  # B
    [[0.4, -0.1], [-0.1, 0.6]],  # C
    [0.1, -0.2, 0.3],  # b
    [-0.3, 0.2],  # c
)
CGDS_X = [
    [1.0, -0.5, 0.5],
    [0.4026468518734654, -0.826285367227386, -0.0955277726690339],
    [0.16191183946251558, -1.016234030535895, -0.32438343626994043],
    [-0.023272338037070767, -1.0267809794123042, -0.5342885105879924],
    [-0.25321388051360977, -0.8555455519048569, -0.6818239681307638],
    [-0.41548249241536195, -0.5582782760574401, -0.7486937577960079],
    [-0.5070104424726942, -0.2400495639055989, -0.7557358853780514],
]
CGDS_Y = [
    [0.5, 2.0],
    [0.19394588264652174, 1.368421060107876],
    [0.26315928438223835, 0.7711201459417453],
    [0.10821866204981789, 0.2558360201609968],
    [0.0141913971596314, -0.1260972829742416],
    [-0.018070603359702973, -0.33848369473436335],
    [-0.002243818792809771, -0.37071164042211097],
]


@pytest.mark.parametrize("warm_start", (False, True))
def test_acgd_matches_cgds_with_pytree_players(warm_start):
    """The CGDs package's `ACGD` on f = x^T B x / 2 + x^T A y - y^T C y / 2 + b^T x + c^T y
    (x minimises): RMSProp step sizes with bias correction, and the alternating solves (from
    zero, or warm-started as in CGDs: the same steps). The players are PyTrees here (a dict
    with a matrix leaf, a tuple with a scalar leaf)."""

    def value(x, y, args):
        flat_x = jnp.concatenate([x["head"], x["tail"].ravel()])
        return CGDS_GAME.value(flat_x, jnp.stack([y[0], y[1][0]]))

    game = mx.ZeroSumGame(value)
    want = jnp.array(CGDS_X), jnp.array(CGDS_Y)
    z0 = (
        {"head": want[0][0, :1], "tail": want[0][0, 1:].reshape(1, 2)},
        (want[1][0, 0], want[1][0, 1:]),
    )
    rows = _run(mx.ACGD(0.5, beta=0.9, eps=1e-8, warm_start=warm_start), game, z0, 6)
    for row, x, y in zip(rows, *want, strict=True):
        got_x = jnp.concatenate([row[0]["head"], row[0]["tail"].ravel()])
        got_y = jnp.stack([row[1][0], row[1][1][0]])
        assert tree_allclose((got_x, got_y), (x, y), atol=1e-10)


def test_mlp_players_on_mixture_gan():
    """An MLP generator and discriminator on the (general-sum) GAN: GMRES on PyTree players."""
    gan = games.MixtureGAN("ring", batch_size=16, latent_size=4)
    players = gan.init_players(jax.random.key(0), width=8, depth=1)
    after = _run(mx.CGD(0.1), gan, players, 2, key=jax.random.key(1))[-1]
    assert jax.tree.structure(after) == jax.tree.structure(players)
    before, after = (eqx.filter(p, eqx.is_array) for p in (players, after))
    for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after), strict=True):
        assert jnp.isfinite(b).all() and a.dtype == b.dtype
    assert not tree_allclose(before, after, atol=1e-4)


def test_float32_players_keep_their_dtype_and_converge():
    """The float32 default tolerance is reachable; a float64 learning rate promotes nothing."""
    game = games.Bilinear.random(jax.random.key(4), 5, 3, linear=True, dtype=jnp.float32)
    z0 = tuple(p.astype(jnp.float32) for p in _start(5, 3))
    rows = _run(mx.CGD(jnp.asarray(0.5)), game, z0, 20)
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(rows))
    rows = jax.tree.map(lambda p: p.astype(jnp.float64), rows)
    game64 = games.Bilinear(*(a.astype(jnp.float64) for a in (game.A, game.b, game.c)))
    for t in range(3):
        want = _dense_zero_sum_step(game64, *rows[t], 0.5)  # compiled for BILINEAR already
        assert tree_allclose(rows[t + 1], want, atol=1e-5)


def test_linear_solve_failure_stops_at_the_last_good_step():
    """Three steps with a tiny step size (two CG iterations suffice), then eta = 1, which two
    iterations cannot solve: the run stops with lineax's max_steps_reached and the players of
    step 3. Likewise in the middle of a long run's second block of steps (a failure the solver
    reports, with finite players, inside a block run as a whole)."""
    from minimax._solve import _BLOCK, _WHOLE_FROM

    game = games.Bilinear.random(jax.random.key(5), 6, 4, sigma_min=0.5, sigma_max=2.0)
    solver = mx.CGD(lambda t: jnp.where(t < 3, 1e-8, 1.0), max_steps=2)
    z0 = _start(6, 4)
    sol = mx.solve(game, solver, z0, steps=6, throw=False)
    assert sol.result == mx.RESULTS.max_steps_reached
    assert int(sol.stats["failed_step"]) == 4 and int(sol.state.step) == 3
    np.testing.assert_array_equal(sol.ts, [0, 1, 2, 3, -1, -1, -1])
    assert tree_allclose(sol.players, jax.tree.map(lambda a: a[3], sol.trajectory), atol=0)
    assert not tree_allclose(sol.players, z0, atol=1e-9)
    assert int(sol.state.solver.count) == 3
    with pytest.raises(RuntimeError, match="step 4 failed: The maximum number of solver steps"):
        mx.solve(game, solver, z0, steps=6)

    late = _BLOCK + 476
    solver = mx.CGD(lambda t: jnp.where(t < late, 1e-8, 1.0), max_steps=2)
    sol = mx.solve(game, solver, z0, steps=_WHOLE_FROM, throw=False, save_every=None)
    assert sol.result == mx.RESULTS.max_steps_reached
    assert int(sol.stats["failed_step"]) == late + 1 and int(sol.state.step) == late
    good = mx.solve(game, solver, z0, steps=late, save_every=None)
    assert tree_allclose((sol.players, sol.state), (good.players, good.state), atol=0)


def test_acgd_refuses_general_sum_games():
    solver = mx.ACGD(0.1)
    players = _start(3, 4)
    with pytest.raises(TypeError, match="ACGD solves zero-sum games.*GeneralSumGame"):
        mx.solve(GENERAL, solver, players, steps=1)
    state = solver.init(mx.ZeroSumGame(lambda x, y, args: x @ y[:3]), players)
    with pytest.raises(TypeError, match="GeneralSumGame.*minimax.CGD"):
        _step(solver, GENERAL, players, state, None)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: mx.CGD(-0.1), ValueError, "`learning_rate` must be positive"),
        (lambda: mx.CGD(0.0), ValueError, "`learning_rate` must be positive"),
        (lambda: mx.CGD("0.1"), TypeError, "`learning_rate` must be a float or an optax"),
        (lambda: mx.CGD(jnp.ones(2)), TypeError, "`learning_rate` must be"),
        (lambda: mx.CGD(0.1, rtol=-1e-6), ValueError, "`rtol` must be non-negative"),
        (lambda: mx.CGD(0.1, atol=float("nan")), ValueError, "`atol` must be finite"),
        (lambda: mx.CGD(0.1, max_steps=0), ValueError, "`max_steps` must be a positive int"),
        (lambda: mx.CGD(0.1, max_steps=2.5), TypeError, "`max_steps` must be an int"),
        (lambda: mx.CGD(0.1, rtol=0, atol=0), ValueError, "`rtol` and `atol` are both 0"),
        (lambda: mx.ACGD(0.1, beta=1.0), ValueError, r"`beta` must be in \[0, 1\)"),
        (lambda: mx.ACGD(0.1, eps=0.0), ValueError, "`eps` must be positive"),
        (lambda: mx.ACGD(None), TypeError, "`learning_rate` must be"),
    ],
)
def test_bad_input(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_fixed_iterations_and_traced_hyperparameters_are_accepted():
    mx.CGD(0.1, rtol=0, atol=0, max_steps=5)
    mx.ACGD(optax.constant_schedule(0.1), beta=0.0, rtol=1e-6)
    jax.vmap(lambda lr: mx.CGD(lr, rtol=lr).learning_rate)(jnp.array([0.1, 0.2]))


@pytest.mark.parametrize("rtol, atol", [(1e-3, 0.0), (0.0, 1e-2), (1e-6, 1e-9)])
def test_cg_stops_on_the_residual_norm(rtol, atol):
    """The linear solve stops at the first iterate whose residual has
    ||r|| <= max(rtol ||b||, atol) (CGDs' rule), and a warm start that already meets it takes
    no iteration."""
    key_m, key_b = jax.random.split(jax.random.key(6))
    m = jax.random.normal(key_m, (12, 12))
    matrix = jnp.eye(12) + m @ m.T / 4
    b = jax.random.normal(key_b, (12,))
    operator = lx.MatrixLinearOperator(matrix, lx.positive_semidefinite_tag)
    bound = max(rtol * float(jnp.linalg.norm(b)), atol)

    def residual(steps):
        w = lx.linear_solve(operator, b, _CG(0.0, 0.0, steps), throw=False).value
        return float(jnp.linalg.norm(b - matrix @ w))

    sol = lx.linear_solve(operator, b, _CG(rtol, atol, None), throw=False)
    k = int(sol.stats["num_steps"])
    assert sol.result == lx.RESULTS.successful and k >= 1
    assert float(jnp.linalg.norm(b - matrix @ sol.value)) <= bound
    assert residual(k - 1) > bound if k > 1 else float(jnp.linalg.norm(b)) > bound
    exact = jnp.linalg.solve(matrix, b)
    warm = lx.linear_solve(operator, b, _CG(rtol, atol, None), options={"y0": exact})
    assert int(warm.stats["num_steps"]) == 0
