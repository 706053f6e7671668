"""Property-based tests (hypothesis) for runs people can trust.

1. On random strongly convex-concave quadratic games, OGDA and extra-gradient with a step size
   inside the theory's bound converge at the theory's rate; on random bilinear games their
   iterates are the exact solution of the linear dynamics, and converge at its rate.
2. A run resumed from `sol.state` is the same, bit for bit, as one run.
3. A run saved in chunks (`checkpoint_every`), killed and run again, is the same, bit for bit, as
   one run: players, state, recorded steps and trajectory.
4. The same key gives the same bits; different keys give different runs.
5. `sol.ts` and `sol.trajectory` say exactly which steps were recorded, and hold those steps.

JAX compiles whatever is static anew (`steps`, `save_every`, shapes, each newly built optimizer),
so the dimension is fixed, games are traced arrays, the learning rate of the convergence tests is
traced, and step counts come from small fixed menus chosen so that the tests share compiled runs.
Examples are derandomized: CI sees the same examples every time.
"""

import math
import tempfile
from pathlib import Path
from unittest import mock

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import games
import minimax as mx
from minimax import _checkpoint

N = 3  # both players' dimension, fixed: a new shape is a new compile


def _settings(max_examples: int):
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


def _bits(tree):
    leaves, treedef = jax.tree.flatten(tree)
    return treedef, [(np.shape(a), np.asarray(a).dtype, np.asarray(a).tobytes()) for a in leaves]


def _assert_same_bits(a, b, what=""):
    """Equal PyTree structure, shapes, dtypes and bits (stricter than `==`: -0.0 is not 0.0)."""
    (da, la), (db, lb) = _bits(a), _bits(b)
    assert da == db, f"{what}: structures differ: {da} vs {db}"
    for i, (x, y) in enumerate(zip(la, lb, strict=True)):
        assert x == y, f"{what}: leaf {i} differs"


# ----------------------------------------------------------------------------------------------
# Strategies: games of a fixed size, drawn as float arrays (so hypothesis can shrink them).


def _floats(low, high):
    return st.floats(low, high, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def _arrays(shape, bound):
    return hnp.arrays(np.float64, shape, elements=_floats(-bound, bound))


def _symmetric_psd(m, mu):
    s = m @ m.T
    return (s + s.T) / 2 + mu * np.eye(len(m))


# Ranges of the strongly convex-concave games: B = M M^T + mu_B I and C = M' M'^T + mu_C I with
# the entries of M, M' in [-M_BOUND, M_BOUND], mu in [MU_MIN, 1], the entries of A in
# [-A_BOUND, A_BOUND]. F is mu-strongly monotone with mu = min(lambda_min(B), lambda_min(C)) >=
# MU_MIN, and L-Lipschitz with L = ||J||_2, J = [[B, A], [-A^T, C]], so (Frobenius bounds)
# L <= max(||B||, ||C||) + ||A|| <= (N M_BOUND^2 N + 1) + N A_BOUND = L_MAX.
M_BOUND, A_BOUND, MU_MIN = 0.5, 1.0, 0.1
L_MAX = N * N * M_BOUND**2 + 1.0 + N * A_BOUND


@st.composite
def quadratic_games(draw):
    """The matrices of a strongly convex-concave `QuadraticSaddle` in the ranges above, with
    linear terms. (The game is built in the test: beartype's checks, switched on for `games`,
    draw from `random`, which hypothesis forbids inside a strategy.)"""
    mb, mc = draw(_arrays((N, N), M_BOUND)), draw(_arrays((N, N), M_BOUND))
    mu_b, mu_c = draw(_floats(MU_MIN, 1.0)), draw(_floats(MU_MIN, 1.0))
    A = draw(_arrays((N, N), A_BOUND))
    b, c = draw(_arrays((N,), 2.0)), draw(_arrays((N,), 2.0))
    return A, _symmetric_psd(mb, mu_b), _symmetric_psd(mc, mu_c), b, c


SIGMA_MIN = 0.5  # bilinear games: singular values of A in [SIGMA_MIN, 1]


@st.composite
def bilinear_games(draw):
    """`f = x^T A y + b^T x + c^T y` (a `QuadraticSaddle` with B = C = 0, so it shares compiled
    runs with the games above), A = U diag(s) V^T square and full rank."""
    u = np.linalg.qr(draw(_arrays((N, N), 1.0)))[0]  # orthogonal for any input (Householder)
    v = np.linalg.qr(draw(_arrays((N, N), 1.0)))[0]
    s = np.array(draw(st.lists(_floats(SIGMA_MIN, 1.0), min_size=N, max_size=N)))
    zero = np.zeros((N, N))
    b, c = draw(_arrays((N,), 2.0)), draw(_arrays((N,), 2.0))
    return (u * s) @ v.T, zero, zero, b, c


def starts():
    return st.tuples(_arrays((N,), 3.0), _arrays((N,), 3.0)).map(
        lambda z: (jnp.asarray(z[0]), jnp.asarray(z[1]))
    )


def _jacobian(game):
    A, B, C = (np.asarray(m) for m in (game.A, game.B, game.C))
    return np.block([[B, A], [-A.T, C]])


def _game(matrices):
    return games.QuadraticSaddle(*matrices)


# ----------------------------------------------------------------------------------------------
# 1. Convergence inside the theory's step-size bound.
#
# For F mu-strongly monotone and L-Lipschitz, with eta = c / L and e_t = z_t - z*:
#
# - EG: ||e_{t+1}||^2 <= ||e_t||^2 - 2 eta mu ||w - z*||^2 - (1 - eta^2 L^2)||w - z_t||^2 (w the
#   look-ahead point); with ||w - z*||^2 >= ||e_t||^2 / 2 - ||w - z_t||^2 this is
#   <= (1 - eta mu)||e_t||^2 once eta^2 L^2 + 2 eta mu <= c^2 + 2c <= 1, i.e. c <= sqrt(2) - 1.
# - OGDA (alpha = beta = 1, first step g_{-1} = g_0) is Popov's past extra-gradient method, its
#   iterates the look-ahead points w_t. The same argument, with the Lyapunov function
#   V_t = ||z_t - z*||^2 + ||z_t - w_{t-1}||^2 / 2, gives V_{t+1} <= (1 - eta mu) V_t for
#   4c^2 + 2c <= 1 and 8c^2 <= 1/2, i.e. c <= 1/4; V starts at ||e_0||^2 (z_{-1} = z_0) and
#   ||w_t - z*||^2 <= 4 V_{t+1}, so ||e_t|| <= 2 (1 - eta mu)^{t/2} ||e_0||.
#
# These are the linear rates of Mokhtari, Ozdaglar, Pattathil (2020), "A unified analysis of
# extra-gradient and optimistic gradient methods for saddle point problems: proximal point
# approach", AISTATS, and Gidel et al. (2019), "A variational inequality perspective on
# generative adversarial networks", ICLR, by their argument, with the constants worked out for
# every c in the ranges below. STEPS is the number of steps after which the worst game in the
# ranges above, at the smallest c, is within TOL (relative) of its equilibrium.
#
# Every quadratic game is linear, F(z) = J (z - z*), so the tests also check the iterates against
# the exact solution of the linear dynamics (`_linear_dynamics`): this pins the first step, the
# learning rate and the optimistic correction, which a rate bound alone would not.
#
# Bilinear games (B = C = 0, mu = 0): J = [[0, A], [-A^T, 0]] is normal, with eigenvalues
# +-i s_j (s_j the singular values of A), so the exact rate is max_j |p_t(i s_j)| with EG's
# p_t(a) = (1 - eta a + eta^2 a^2)^t and OGDA's from p_{t+1} = (1 - 2 eta a) p_t + eta a p_{t-1},
# p_{-1} = p_0 = 1 (Liang & Stokes 2019, "Interaction matters: a note on non-asymptotic local
# convergence of generative adversarial networks", AISTATS; Mokhtari et al. 2020, bilinear case).
# It is set by eta s_min: about 1 - (eta s_min)^2 / 2 a step. EG converges for eta s_max < 1,
# OGDA for eta s_max up to a little above 0.55; c = eta L is drawn in [0.1, 0.5] and s in
# [SIGMA_MIN, 1], so eta s_min >= 0.05 and STEPS is ample.

C_RANGE = {"ogda": (0.05, 0.25), "eg": (0.05, math.sqrt(2) - 1 - 1e-3)}
C_RANGE_BILINEAR = (0.1, 0.5)
K = {"ogda": 2.0, "eg": 1.0}  # the constants in front of the rates above
TOL = 1e-6
RECORD = 500  # record every RECORD steps, to check the rate along the way
_WORST = C_RANGE["ogda"][0] * MU_MIN / L_MAX  # smallest eta * mu
STEPS = RECORD * math.ceil(2 * math.log(K["ogda"] / TOL) / -math.log1p(-_WORST) / RECORD)

TRACES = {"ogda": 0, "eg": 0}


def _make_solver(method, lr):
    if method == "ogda":
        return mx.Simultaneous(mx.optimistic_gradient(lr))
    return mx.ExtraGradient(optax.sgd(lr))


def _converge_run(method):
    def run(game, z0, lr):
        TRACES[method] += 1  # runs only when tracing
        solver = _make_solver(method, lr)  # lr is traced: one compile serves every example
        return mx.solve(game, solver, z0, steps=STEPS, save_every=RECORD, throw=False)

    return eqx.filter_jit(run)


CONVERGE = {method: _converge_run(method) for method in ("ogda", "eg")}


def _traced(lr):
    return jnp.asarray(lr, jnp.float64)  # not weakly typed, whatever `lr` is: one compile


def _distances(sol, z_star):
    (xs, ys), (x_star, y_star) = (map(np.asarray, z) for z in (sol.trajectory, z_star))
    return np.sqrt(((xs - x_star) ** 2).sum(1) + ((ys - y_star) ** 2).sum(1))


def _slack(z0, z_star):
    """Rounding: float64 iterates settle within a few ulps times the conditioning of the
    equilibrium, far below this."""
    scale = 1.0 + max(float(jnp.abs(jnp.concatenate(z)).max()) for z in (z0, z_star))
    return 1e-9 * scale


RECORDED = np.arange(0, STEPS + 1, RECORD)


def _linear_dynamics(method, eta, J, e0):
    """The exact iterates of OGDA or EG on a linear field `F(z) = J (z - z*)`.

    `e_t = z_t - z*` is `P_t e_0`: EG multiplies `e` by `I - eta J + eta^2 J^2` a step; OGDA
    multiplies the pair `(e_t, e_{t-1})` by `[[I - 2 eta J, eta J], [I, 0]]`, from `(e_0, e_0)`
    (the first step `g_{-1} = g_0`). Returns `||P_t||_2` and `P_t e_0` at the recorded steps."""
    eye = np.eye(len(J))
    if method == "eg":
        step, lift, read = eye - eta * J + eta**2 * J @ J, eye, eye
    else:
        step = np.block([[eye - 2 * eta * J, eta * J], [eye, 0 * eye]])
        lift, read = np.vstack([eye, eye]), np.hstack([eye, 0 * eye])
    jump, q = np.linalg.matrix_power(step, RECORD), lift
    norms, pred = [], []
    for _ in RECORDED:
        p = read @ q
        norms.append(np.linalg.norm(p, 2) if np.isfinite(p).all() else np.inf)  # (diverged)
        pred.append(p @ e0)
        q = jump @ q
    return np.array(norms), np.array(pred)


def _check_run(sol, z_star, z0, upper, exact):
    """The run's distance to `z_star` is within `upper` (a factor per recorded step) of its
    starting distance, within TOL of it at the end, and its iterates are `exact`."""
    assert sol.result == mx.RESULTS.successful
    np.testing.assert_array_equal(sol.ts, RECORDED)
    dist = _distances(sol, z_star)
    slack = _slack(z0, z_star)
    bound = upper * dist[0] + slack
    bad = np.flatnonzero(dist > bound)
    where = RECORDED[bad]
    assert not bad.size, f"distance {dist[bad]} above the theory's {bound[bad]} at steps {where}"
    assert dist[-1] <= TOL * dist[0] + slack, f"not within {TOL} after {STEPS} steps"
    # Not only the rate: the very iterates, so the first step, the learning rate and the
    # optimistic correction are exactly OGDA's or EG's.
    got = np.concatenate(sol.trajectory, axis=1) - np.concatenate(z_star)
    err = np.abs(got - exact).max()
    assert err <= slack, f"iterates {err} away from the exact linear dynamics"


@pytest.mark.parametrize("method", ["ogda", "eg"])
@_settings(max_examples=20)
@given(matrices=quadratic_games(), z0=starts(), data=st.data())
def test_strongly_monotone_converges_at_the_theory_rate(method, matrices, z0, data):
    game = _game(matrices)
    jac = _jacobian(game)
    L = np.linalg.norm(jac, 2)
    mu = np.linalg.eigvalsh((jac + jac.T) / 2).min()
    assert MU_MIN * (1 - 1e-9) <= mu <= L <= L_MAX  # the games are what STEPS assumes
    c = data.draw(_floats(*C_RANGE[method]), label="c")
    lr = c / L
    sol = CONVERGE[method](game, z0, _traced(lr))
    assert sol.result == mx.RESULTS.successful
    rate = math.sqrt(1 - lr * mu)  # per step, on the distance
    z_star = game.equilibrium()
    _, exact = _linear_dynamics(method, lr, jac, np.concatenate(z0) - np.concatenate(z_star))
    _check_run(sol, z_star, z0, K[method] * rate ** RECORDED.astype(float), exact)


@pytest.mark.parametrize("method", ["ogda", "eg"])
@_settings(max_examples=15)
@given(matrices=bilinear_games(), z0=starts(), data=st.data())
def test_bilinear_converges_at_the_exact_rate(method, matrices, z0, data):
    game = _game(matrices)
    jac = _jacobian(game)
    c = data.draw(_floats(*C_RANGE_BILINEAR), label="c")
    lr = c / np.linalg.norm(jac, 2)
    sol = CONVERGE[method](game, z0, _traced(lr))
    assert sol.result == mx.RESULTS.successful
    z_star = game.equilibrium()
    norms, exact = _linear_dynamics(method, lr, jac, np.concatenate(z0) - np.concatenate(z_star))
    _check_run(sol, z_star, z0, norms, exact)  # J is normal: ||P_t|| = max_j |p_t(i s_j)|


def test_convergence_runs_compile_once():
    """The tests above rely on it: a new game or learning rate is not a new compile."""
    A = jnp.eye(N)
    for method, run in CONVERGE.items():
        z0 = (jnp.ones(N), jnp.ones(N))
        run(games.QuadraticSaddle(A, A, A), z0, _traced(0.1))
        before = TRACES[method]
        run(games.QuadraticSaddle(2 * A, 0 * A, A), z0, _traced(0.05))
        assert TRACES[method] == before


# ----------------------------------------------------------------------------------------------
# 2-5. Exactness. One solver object and small menus of step counts, chosen so that the tests
# share their compiled runs. 64 is the driver's block of unchecked steps: counts below, at and
# above it, and resumes in the middle of a block.

SOLVER = mx.Simultaneous(mx.optimistic_gradient(0.04))  # c <= 0.04 L_MAX = 1/4: converges
SPLITS = [5, 70]  # a and b; one run of a + b in {10, 75, 140}


@_settings(max_examples=12)
@given(
    matrices=quadratic_games(),
    z0=starts(),
    a=st.sampled_from(SPLITS),
    b=st.sampled_from(SPLITS),
)
def test_resume_is_one_run(matrices, z0, a, b):
    event(f"a={a}, b={b}")
    game = _game(matrices)
    whole = mx.solve(game, SOLVER, z0, steps=a + b, save_every=None)
    first = mx.solve(game, SOLVER, z0, steps=a, save_every=None)
    rest = mx.solve(game, SOLVER, first.players, steps=b, state=first.state, save_every=None)
    _assert_same_bits(rest.players, whole.players, "players")
    _assert_same_bits(rest.state, whole.state, "state")
    assert int(rest.state.step) == a + b and int(rest.stats["steps"]) == b
    assert rest.ts.tolist() == [a + b]


class _Killed(Exception):
    pass


class _Writes:
    """Count the checkpoints written; with `die_after`, stop the run after that many, as a
    killed process would."""

    def __init__(self, die_after=None):
        self.count, self.die_after, self.real = 0, die_after, _checkpoint.write_checkpoint

    def __call__(self, path, entries, **kwargs):
        self.real(path, entries, **kwargs)
        self.count += 1
        if self.count == self.die_after:
            raise _Killed

    def __enter__(self):
        self.patch = mock.patch.object(_checkpoint, "write_checkpoint", self)
        self.patch.start()
        return self

    def __exit__(self, *exc):
        self.patch.stop()


def _check_checkpointed(game, z0, steps, every, save_every, kill, data):
    event(f"steps={steps}, every={every}, kill={kill}")
    one = mx.solve(game, SOLVER, z0, steps=steps, save_every=save_every)
    chunks, killed = -(-steps // every), 0
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "run.eqx"
        call = lambda: mx.solve(  # noqa: E731
            game, SOLVER, z0, steps=steps, save_every=save_every,
            checkpoint=path, checkpoint_every=every,
        )  # fmt: skip
        if kill and chunks > 1:
            killed = data.draw(st.integers(1, chunks - 1), label="killed after")
            with _Writes(die_after=killed), pytest.raises(_Killed):
                call()
        with _Writes() as writes:
            chunked = call()  # run again: resumes from the file
    assert writes.count == chunks - killed  # it did resume, rather than start again
    for name in ("players", "state", "ts", "trajectory"):
        _assert_same_bits(getattr(chunked, name), getattr(one, name), name)
    assert chunked.result == mx.RESULTS.successful and int(chunked.state.step) == steps


@_settings(max_examples=10)
@given(
    matrices=quadratic_games(),
    z0=starts(),
    steps=st.sampled_from([75, 140]),
    every=st.sampled_from(SPLITS),
    kill=st.booleans(),
    data=st.data(),
)
def test_chunked_is_one_run(matrices, z0, steps, every, kill, data):
    game = _game(matrices)
    _check_checkpointed(game, z0, steps, every, None, kill, data)


@_settings(max_examples=8)
@given(
    matrices=quadratic_games(),
    z0=starts(),
    every=st.sampled_from([14, 63, 70]),  # multiples of save_every = 7; 140 = 2 * 63 + 14
    kill=st.booleans(),
    data=st.data(),
)
def test_chunked_records_what_one_run_records(matrices, z0, every, kill, data):
    game = _game(matrices)
    _check_checkpointed(game, z0, 140, every, 7, kill, data)


# (steps, save_every): s = 1, s dividing steps, not dividing, equal to it, a whole block; the
# runs of test_chunked_records_what_one_run_records use (140, 7) too. (save_every > steps is
# test_save_every_longer_than_the_run below.)
RECORDINGS = [(5, 2), (70, 1), (70, 4), (70, 70), (70, 100), (140, 7), (140, 64)]
REFERENCE_STEPS = 5 + 140  # every step recorded, long enough for a resumed run of 140 steps


@_settings(max_examples=20)
@given(
    matrices=quadratic_games(),
    z0=starts(),
    recording=st.sampled_from(RECORDINGS),
    start=st.sampled_from([0, 5]),
)
def test_trajectory_is_what_it_says(matrices, z0, recording, start):
    game = _game(matrices)
    steps, s = recording
    event(f"steps={steps}, save_every={s}, start={start}")
    reference = mx.solve(game, SOLVER, z0, steps=REFERENCE_STEPS, save_every=1)
    assert reference.ts.tolist() == list(range(REFERENCE_STEPS + 1))
    players, state = z0, None
    if start:  # a resumed run records from where it resumed
        first = mx.solve(game, SOLVER, z0, steps=start, save_every=None)
        players, state = first.players, first.state
    sol = mx.solve(game, SOLVER, players, steps=steps, save_every=s, state=state)
    expected = list(range(start, start + steps + 1, s))
    if expected[-1] != start + steps:
        expected.append(start + steps)  # the final step always, once
    assert sol.ts.tolist() == expected
    _assert_same_bits(jax.tree.map(lambda a: a[-1], sol.trajectory), sol.players, "last row")
    rows = jax.tree.map(lambda a: a[np.asarray(expected)], reference.trajectory)
    _assert_same_bits(sol.trajectory, rows, "rows")


# save_every > steps: a loop over no rows (once a crash), and a checkpointed run's last chunk
# shorter than save_every.
@pytest.mark.parametrize("checkpoint", [False, True])
def test_save_every_longer_than_the_run(checkpoint, tmp_path):
    game = _game((np.eye(N), np.eye(N), np.eye(N), np.ones(N), np.zeros(N)))
    z0 = (jnp.ones(N), jnp.zeros(N))
    if checkpoint:  # chunks of 70 and 5 steps, rows every 7: one row in the last chunk
        path = tmp_path / "run.eqx"
        sol = mx.solve(
            game, SOLVER, z0, steps=75, save_every=7, checkpoint=path, checkpoint_every=70
        )
        one = mx.solve(game, SOLVER, z0, steps=75, save_every=7)
        _assert_same_bits((sol.ts, sol.trajectory), (one.ts, one.trajectory), "chunked")
    else:
        sol = mx.solve(game, SOLVER, z0, steps=70, save_every=100)
        assert sol.ts.tolist() == [0, 70]
        _assert_same_bits(jax.tree.map(lambda a: a[0], sol.trajectory), z0, "first row")
        _assert_same_bits(jax.tree.map(lambda a: a[1], sol.trajectory), sol.players, "last row")


# ----------------------------------------------------------------------------------------------
# 4. Keys.


def _noisy(x, y, args, *, key):
    return x @ args @ y + 0.1 * jax.random.normal(key, x.shape) @ x


NOISY = mx.ZeroSumGame(_noisy)
NOISY_SOLVER = mx.ExtraGradient(optax.sgd(0.1))  # two draws a step, from split keys


@_settings(max_examples=10)
@given(
    A=_arrays((N, N), 1.0),
    z0=starts(),
    seed=st.integers(0, 2**31 - 1),
    offset=st.integers(1, 2**31 - 1),
)
def test_same_key_same_bits(A, z0, seed, offset):
    other = (seed + offset) % 2**31
    A = jnp.asarray(A)

    def run(seed, **kwargs):
        key = jax.random.key(seed)
        return mx.solve(
            NOISY, NOISY_SOLVER, z0, args=A, key=key, steps=70, save_every=None, **kwargs
        )

    one = run(seed)
    again = run(seed)
    _assert_same_bits((again.players, again.state), (one.players, one.state), "same key")
    different = run(other)
    assert not np.array_equal(jnp.concatenate(different.players), jnp.concatenate(one.players))
    # Chunks draw the same keys as one run: step t draws fold_in(key, t) wherever it runs.
    with tempfile.TemporaryDirectory() as folder:
        chunked = run(seed, checkpoint=Path(folder) / "run.eqx", checkpoint_every=35)
    _assert_same_bits((chunked.players, chunked.state), (one.players, one.state), "chunked")
