"""The driver and the Simultaneous solver: recording, resuming, failures, PyTree players."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import games
import minimax as mx

from .helpers import games_table, start, tree_allclose

GAME = games_table()["quadratic"]
SOLVER = mx.Simultaneous(mx.optimistic_gradient(0.1))
Z0 = start(GAME)


def test_save_every_and_final_only():
    full = mx.solve(GAME, SOLVER, Z0, steps=50)
    assert full.trajectory[0].shape == (51, 6) and full.ts.tolist() == list(range(51))
    # Every 7th step, the start, and the final step too: the last row is always `players`.
    every = mx.solve(GAME, SOLVER, Z0, steps=50, save_every=7)
    assert every.ts.tolist() == [*range(0, 50, 7), 50]
    assert tree_allclose(every.trajectory, jax.tree.map(lambda a: a[every.ts], full.trajectory))
    final = mx.solve(GAME, SOLVER, Z0, steps=50, save_every=None)
    assert final.ts.tolist() == [50] and final.trajectory[0].shape == (1, 6)
    # Longer than a block of unchecked steps, with and without recording.
    long = mx.solve(GAME, SOLVER, Z0, steps=300, save_every=100)
    assert long.ts.tolist() == [0, 100, 200, 300]
    assert tree_allclose(
        long.players, mx.solve(GAME, SOLVER, Z0, steps=300, save_every=None).players, atol=0
    )
    for sol in (every, final):
        assert tree_allclose(sol.players, full.players)
        assert tree_allclose(jax.tree.map(lambda a: a[-1], sol.trajectory), sol.players, atol=0)
        assert int(sol.stats["steps"]) == 50 and sol.result == mx.RESULTS.successful


def test_resume_is_exact():
    whole = mx.solve(GAME, SOLVER, Z0, steps=50, save_every=None)
    first = mx.solve(GAME, SOLVER, Z0, steps=20, save_every=None)
    rest = mx.solve(GAME, SOLVER, first.players, steps=30, state=first.state, save_every=None)
    assert tree_allclose(rest.players, whole.players, atol=0)
    assert tree_allclose(rest.state, whole.state, atol=0)
    assert rest.ts.tolist() == [50]
    # Restarting without the state is a different run: the optimistic memory matters.
    fresh = mx.solve(GAME, SOLVER, first.players, steps=30, save_every=None)
    assert not tree_allclose(fresh.players, whole.players)


def test_step_api_matches_solve():
    sol = mx.solve(GAME, SOLVER, Z0, steps=5)
    players, state = Z0, SOLVER.init(GAME, Z0)
    for _ in range(5):
        players, state = SOLVER.step(GAME, players, state)
    assert tree_allclose(players, sol.players)


DIVERGING = mx.Simultaneous(optax.sgd(100.0))


def test_nonfinite_stops_at_last_finite_point():
    sol = mx.solve(GAME, DIVERGING, Z0, steps=400, throw=False)
    bad = int(sol.stats["failed_step"])
    assert 0 < bad < 400 and sol.result == mx.RESULTS.nonfinite
    assert int(sol.stats["steps"]) == bad - 1 == int(sol.state.step)
    assert all(bool(jnp.isfinite(p).all()) for p in sol.players)
    # Rows are labelled with the steps reached; the rest are -1 and repeat the final players.
    assert sol.ts.tolist() == [*range(bad), *[-1] * (401 - bad)]
    assert tree_allclose(jax.tree.map(lambda a: a[-1], sol.trajectory), sol.players, atol=0)
    # Long runs check in blocks of steps, yet stop at the same step and point.
    for save_every in (None, 150, 7):
        blocked = mx.solve(GAME, DIVERGING, Z0, steps=400, throw=False, save_every=save_every)
        assert int(blocked.stats["failed_step"]) == bad
        assert tree_allclose((blocked.players, blocked.state), (sol.players, sol.state), atol=0)
        if save_every:
            reached = [t for t in range(0, bad, save_every)] + [bad - 1]
            n = len(reached)
            assert blocked.ts.tolist()[:n] == reached and set(blocked.ts.tolist()[n:]) <= {-1}
            rows = [jax.tree.map(lambda a, i=i: a[i], sol.trajectory) for i in reached]
            assert tree_allclose(
                jax.tree.map(lambda a, n=n: a[:n], blocked.trajectory),
                jax.tree.map(lambda *r: jnp.stack(r), *rows),
                atol=0,
            )
    # Under vmap, a member that fails stops at its own step; the others carry on.
    scaled = mx.ZeroSumGame(lambda x, y, scale: scale * jnp.vdot(x, y))

    def run(scale):
        return mx.solve(
            scaled, DIVERGING, (Z0[1], Z0[1]), steps=400, args=scale, throw=False, save_every=None
        )

    both, alone = jax.vmap(run)(jnp.array([0.0, 1.0])), run(1.0)
    assert both.stats["failed_step"].tolist() == [-1, int(alone.stats["failed_step"])]
    assert int(alone.stats["failed_step"]) > 64  # failed after a while
    assert tree_allclose((both.players[0][1], both.players[1][1]), alone.players, atol=0)
    with pytest.raises(RuntimeError, match=f"step {bad} failed.*non-finite"):
        mx.solve(GAME, DIVERGING, Z0, steps=400)
    # Under the user's jit nothing is raised: the result says how the run ended.
    jitted = jax.jit(lambda z: mx.solve(GAME, DIVERGING, z, steps=400, save_every=None))(Z0)
    assert jitted.result == mx.RESULTS.nonfinite and int(jitted.stats["failed_step"]) == bad


def test_failed_run_stops_early():
    """A run that fails at step ~100 of a million evaluates about 100 steps and a block, not a
    million; under vmap, it stops once every member has."""
    from minimax._solve import _BLOCK

    calls = []

    def value(x, y, scale):
        jax.debug.callback(lambda: calls.append(None))
        return scale * jnp.vdot(x, y)

    game = mx.ZeroSumGame(value)

    def run(scale):
        return mx.solve(game, DIVERGING, (Z0[1], Z0[1]), steps=10**6, args=scale, throw=False,
                        save_every=None)  # fmt: skip

    failed = int(run(1.0).stats["failed_step"])
    assert 0 < failed < 1000 and len(calls) < failed + _BLOCK + 64
    calls.clear()
    sols = jax.vmap(run)(jnp.array([1.0, 2.0]))
    assert (sols.stats["failed_step"] > 0).all() and len(calls) < 2 * (failed + _BLOCK + 64)


def test_nonfinite_start():
    with pytest.raises(RuntimeError, match="starting players"):
        mx.solve(GAME, SOLVER, (Z0[0] * jnp.nan, Z0[1]), steps=3)
    sol = mx.solve(GAME, SOLVER, (Z0[0], Z0[1] * jnp.inf), steps=3, throw=False)
    assert sol.result == mx.RESULTS.nonfinite_start and int(sol.stats["failed_step"]) == 0
    assert int(sol.stats["steps"]) == 0


def test_traced_hyperparameters():
    """vmap over learning rates, alpha and beta is one compiled run; each member is the run
    made alone with that value. inject_hyperparams works too."""
    lrs = jnp.array([0.05, 0.1, 0.2])
    for make in (
        lambda h: mx.optimistic_gradient(h),
        lambda h: mx.optimistic_gradient(0.1, alpha=h),
        lambda h: mx.optimistic_gradient(0.1, beta=h),
        lambda h: mx.optimistic_adam(h / 10, beta=h),
    ):

        def run(h, make=make):
            return mx.solve(GAME, mx.Simultaneous(make(h)), Z0, steps=30, save_every=None).players

        swept = jax.vmap(run)(lrs)
        for i, h in enumerate(lrs.tolist()):
            member = jax.tree.map(lambda a, i=i: a[i], swept)
            assert tree_allclose(member, run(h), atol=1e-12)
    injected = optax.inject_hyperparams(mx.optimistic_gradient)(learning_rate=0.1)
    sol = mx.solve(GAME, mx.Simultaneous(injected), Z0, steps=30, save_every=None)
    assert tree_allclose(sol.players, mx.solve(GAME, SOLVER, Z0, steps=30).players, atol=1e-12)


@pytest.mark.parametrize("save_every", [None, 7])
def test_gradient_through_solve(save_every):
    """Reverse-mode derivatives of a run (longer than a block) match finite differences."""

    def loss(lr, z0):
        opt = mx.optimistic_gradient(lr)
        sol = mx.solve(GAME, mx.Simultaneous(opt), z0, steps=150, save_every=save_every)
        return sum(jnp.sum(a**2) for a in jax.tree.leaves(sol.trajectory))

    lr, h = 0.1, 1e-6
    d_lr, d_z0 = jax.grad(loss, argnums=(0, 1))(lr, Z0)
    fd = (loss(lr + h, Z0) - loss(lr - h, Z0)) / (2 * h)
    np.testing.assert_allclose(d_lr, fd, rtol=1e-5)
    e = jnp.zeros(6).at[2].set(h)
    fd_x = (loss(lr, (Z0[0] + e, Z0[1])) - loss(lr, (Z0[0] - e, Z0[1]))) / (2 * h)
    np.testing.assert_allclose(d_z0[0][2], fd_x, rtol=1e-5)


def test_memory_guard(monkeypatch):
    big = (jnp.zeros(10**6), jnp.zeros(10**6))
    with pytest.raises(ValueError, match=r"would need [\d,]+ bytes.*\(save_every=1\)"):
        mx.solve(GAME, SOLVER, big, steps=10**7)
    monkeypatch.setattr("minimax._solve._WARN_BYTES", 1000)
    with pytest.warns(UserWarning, match=r"[\d,]+ bytes.*\(save_every=1\)"):
        mx.solve(GAME, SOLVER, Z0, steps=50)


def test_save_records_what_it_returns():
    def record(players, args):
        return {"value": GAME.value(*players), "norm": jnp.linalg.norm(players[0])}

    sol = mx.solve(GAME, SOLVER, Z0, steps=50, save_every=10, save=record)
    full = mx.solve(GAME, SOLVER, Z0, steps=50, save_every=10)
    assert sol.trajectory["value"].shape == (6,) and sol.ts.tolist() == [0, 10, 20, 30, 40, 50]
    xs, ys = full.trajectory
    np.testing.assert_allclose(sol.trajectory["norm"], jnp.linalg.norm(xs, axis=1))
    np.testing.assert_allclose(sol.trajectory["value"], jax.vmap(GAME.value)(xs, ys))


def test_progress(capfd, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):  # the plain fallback, whatever is installed
        if name.startswith("tqdm"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    sol = mx.solve(GAME, SOLVER, Z0, steps=300, save_every=None, progress=True)
    jax.effects_barrier()
    err = capfd.readouterr().err
    assert "300/300" in err and int(sol.state.step) == 300


def test_does_not_recompile():
    traces = []

    def fn(x, y, args):
        traces.append(None)
        return x @ y

    game = mx.ZeroSumGame(fn)
    mx.solve(game, SOLVER, (jnp.ones(3), jnp.ones(3)), steps=10)
    n = len(traces)
    mx.solve(game, SOLVER, (2 * jnp.ones(3), jnp.zeros(3)), steps=10)
    assert len(traces) == n


def test_float32_in_float32_out():
    z32 = jax.tree.map(lambda a: a.astype(jnp.float32), Z0)
    for opt in (mx.optimistic_gradient(0.1), mx.optimistic_adam(0.01)):
        sol = mx.solve(GAME, mx.Simultaneous(opt), z32, steps=3)
        dtypes = {a.dtype for a in jax.tree.leaves((sol.players, sol.trajectory))}
        state_floats = {a.dtype for a in jax.tree.leaves(sol.state) if eqx.is_inexact_array(a)}
        assert dtypes == state_floats == {jnp.dtype(jnp.float32)}


def test_equinox_players():
    """MLP players: only their arrays train; activations and other leaves pass through."""
    kg, kd, kz = jax.random.split(jax.random.key(0), 3)
    gen = eqx.nn.MLP(1, 2, 8, 1, key=kg)
    disc = eqx.nn.MLP(2, "scalar", 8, 1, key=kd)
    z = jax.random.normal(kz, (16, 1))
    data = jnp.array([1.0, -1.0])

    def value(g, d, args):
        return jnp.mean(jax.vmap(d)(jax.vmap(g)(z))) - d(data)

    game = mx.ZeroSumGame(value)
    solver = mx.Simultaneous(mx.optimistic_adam(1e-2), optax.sgd(1e-2))
    sol = mx.solve(game, solver, (gen, disc), steps=5)
    g, d = sol.players
    assert g.activation is gen.activation and isinstance(g, eqx.nn.MLP)
    assert sol.trajectory[0].layers[0].weight.shape == (6, 8, 1)
    assert not tree_allclose(eqx.filter(g, eqx.is_array), eqx.filter(gen, eqx.is_array))


def test_general_sum_vector_field():
    game = mx.GeneralSumGame(
        lambda x, y, args: jnp.sum((x - y) ** 2), lambda x, y, args: jnp.sum((y - args * x) ** 2)
    )
    x, y = jnp.array([1.0, 2.0]), jnp.array([0.5, -1.0])
    gx, gy = game.vector_field((x, y), 3.0)
    np.testing.assert_allclose(gx, 2 * (x - y))
    np.testing.assert_allclose(gy, 2 * (y - 3.0 * x))
    # Each player best-responds: y -> 3x, x -> y, so the only fixed point is the origin.
    sol = mx.solve(game, mx.Simultaneous(optax.sgd(0.05)), (x, y), args=0.5, steps=500)
    np.testing.assert_allclose(jnp.concatenate(sol.players), 0.0, atol=1e-6)


def test_stochastic_key():
    def noisy(x, y, args, *, key):
        return x * y + jax.random.normal(key) * x

    game = mx.ZeroSumGame(noisy)
    z0 = (jnp.array(1.0), jnp.array(1.0))

    def run(seed, **kw):
        return mx.solve(game, SOLVER, z0, steps=20, key=jax.random.key(seed), **kw)

    assert tree_allclose(run(0).players, run(0).players, atol=0)
    assert not tree_allclose(run(0).players, run(1).players)
    # Resuming keeps the key stream: step t always draws fold_in(key, t).
    half = run(0, save_every=None)
    first = mx.solve(game, SOLVER, z0, steps=10, key=jax.random.key(0))
    rest = mx.solve(game, SOLVER, first.players, steps=10, key=jax.random.key(0), state=first.state)
    assert tree_allclose(rest.players, half.players, atol=0)


@pytest.mark.parametrize(
    "players, match",
    [
        (jnp.ones(6), "pair"),
        ((jnp.ones(6), None), "player y has no floating-point arrays"),
        ((jnp.ones(6),), "pair"),
        ((jnp.ones(6), jnp.ones(4), jnp.ones(1)), "pair"),
        ((jnp.ones(5), jnp.ones(4)), r"players\[0\].*shape \(6,\)"),
        ((jnp.ones(6), jnp.ones((4, 1))), r"players\[1\].*shape \(4,\)"),
        ((jnp.ones(6, jnp.int32), jnp.ones(4)), "player x has no floating-point arrays.*int32"),
        ((jnp.ones(6, jnp.complex64), jnp.ones(4)), "complex array.*conjugate"),
    ],
)
def test_bad_players(players, match):
    with pytest.raises((TypeError, ValueError), match=match):
        mx.solve(GAME, SOLVER, players, steps=2)


def test_bad_arguments():
    with pytest.raises(ValueError, match="fn.*scalar.*shape \\(3,\\)"):
        mx.solve(mx.ZeroSumGame(lambda x, y, a: x * y), SOLVER, (jnp.ones(3), jnp.ones(3)), steps=1)
    with pytest.raises(ValueError, match="loss1.*scalar"):
        game = mx.GeneralSumGame(lambda x, y, a: x @ y, lambda x, y, a: x)
        mx.solve(game, SOLVER, (jnp.ones(3), jnp.ones(3)), steps=1)
    for kwargs, match in (
        ({"steps": 0}, "steps"),
        ({"steps": 2.5}, "steps"),
        ({"steps": 3, "save_every": 0}, "save_every"),
    ):
        with pytest.raises((ValueError, TypeError), match=match):
            mx.solve(GAME, SOLVER, Z0, **kwargs)
    with pytest.raises(TypeError, match="game"):
        mx.solve(lambda x, y: x, SOLVER, Z0, steps=1)
    with pytest.raises(TypeError, match="solver"):
        mx.solve(GAME, optax.sgd(0.1), Z0, steps=1)
    with pytest.raises(TypeError, match="`optimizer`.*function sgd: call it"):
        mx.Simultaneous(optax.sgd)
    with pytest.raises(TypeError, match="`optimizer_y`.*solver Simultaneous"):
        mx.Simultaneous(optax.sgd(0.1), SOLVER)
    with pytest.raises(TypeError, match="`key` was given.*`fn` takes no `key`"):
        bilinear = mx.ZeroSumGame(lambda x, y, a: x @ y)
        mx.solve(bilinear, SOLVER, (Z0[0], Z0[0]), steps=2, key=jax.random.key(0))
    with pytest.raises(TypeError, match="`fn` needs a `key`"):
        mx.solve(mx.ZeroSumGame(lambda x, y, a, *, key: x @ y), SOLVER, Z0, steps=2)
    # NumPy integers are integers; Python floats are players.
    assert mx.solve(GAME, SOLVER, Z0, steps=np.int64(3)).ts.tolist() == [0, 1, 2, 3]
    scalar = mx.ZeroSumGame(lambda x, y, a: x * y)
    sol = mx.solve(scalar, SOLVER, (1.0, 1.0), steps=3)
    assert isinstance(sol.players[0], jax.Array) and float(sol.players[0]) != 1.0
    with pytest.raises(TypeError, match="player y has no floating-point arrays to train"):
        mx.solve(scalar, SOLVER, (1.0, [1.0]), steps=3)


def test_games_accept_only_matching_vectors():
    with pytest.raises(ValueError, match=r"`b` must have shape \(3,\)"):
        games.Bilinear(jnp.ones((3, 2)), b=jnp.ones(2))
    with pytest.raises(ValueError, match=r"`C` must have shape \(2, 2\)"):
        games.QuadraticSaddle(jnp.ones((3, 2)), jnp.eye(3), jnp.eye(3))
    with pytest.raises(ValueError, match="`A` must have 2 dimension"):
        games.Bilinear(jnp.ones(3))


def test_vmap_over_starts():
    """Many runs at once (e.g. seeds), each the same as when run alone."""
    starts = [start(GAME, seed) for seed in (1, 2, 3)]
    batched = jax.tree.map(lambda *a: jnp.stack(a), *starts)
    sols = jax.vmap(lambda z: mx.solve(GAME, SOLVER, z, steps=20, throw=False))(batched)
    for i, z0 in enumerate(starts):
        alone = mx.solve(GAME, SOLVER, z0, steps=20)
        assert tree_allclose((sols.players[0][i], sols.players[1][i]), alone.players)
    assert sols.trajectory[0].shape == (3, 21, 6)


def test_state_must_fit():
    sol = mx.solve(GAME, SOLVER, Z0, steps=3, save_every=None)
    other = mx.Simultaneous(optax.adam(0.1))
    with pytest.raises(ValueError, match="`state` was not made by this solver"):
        mx.solve(GAME, other, sol.players, steps=3, state=sol.state)
    as_f32 = jax.tree.map(lambda a: a.astype(jnp.float32), sol.players)
    with pytest.raises(ValueError, match=r"`state.*` has shape \(6,\) and dtype float64"):
        mx.solve(GAME, SOLVER, as_f32, steps=3, state=sol.state)
    # The same structure from another update rule is still refused.
    with pytest.raises(ValueError, match="made by a Simultaneous solver.*ExtraGradient"):
        mx.solve(GAME, mx.ExtraGradient(optax.sgd(0.1)), sol.players, steps=3, state=sol.state)


def test_top_level_runs_get_their_compiler_options():
    """`solve` compiles with its XLA options only outside the caller's transformations (JAX
    refuses them on a nested jit): it must tell the two apart, which it asks JAX privately."""
    from minimax._solve import _untransformed

    assert _untransformed()
    seen = []
    jax.jit(lambda x: seen.append(_untransformed()) or x)(1.0)
    jax.vmap(lambda x: seen.append(_untransformed()) or x)(jnp.ones(2))
    jax.grad(lambda x: seen.append(_untransformed()) or x)(1.0)
    assert seen == [False, False, False]
