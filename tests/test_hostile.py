"""A red team's findings (issue "Nothing silently wrong"): each a mechanism, each tested."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import minimax as mx

from .helpers import games_table, start, tree_allclose

GAME = games_table()["quadratic"]
SOLVER = mx.Simultaneous(mx.optimistic_gradient(0.1))
Z0 = start(GAME)


def test_complex_players_are_refused_by_solve_and_step():
    z = (jnp.ones(2, jnp.complex64), jnp.ones(2, jnp.complex64))
    game = mx.ZeroSumGame(lambda x, y, args: jnp.sum(jnp.abs(x - 1) ** 2 - jnp.abs(y - 1) ** 2))
    for run in (
        lambda: mx.solve(game, mx.Simultaneous(optax.sgd(0.1)), z, steps=3),
        lambda: mx.Simultaneous(optax.sgd(0.1)).init(game, z),
        lambda: mx.CGD(0.1).init(game, z),
    ):
        with pytest.raises(TypeError, match="complex array.*real and imaginary parts"):
            run()


def test_the_step_counter_never_overflows_silently():
    sol = mx.solve(GAME, SOLVER, Z0, steps=3, save_every=None)
    late = eqx.tree_at(lambda s: s.step, sol.state, jnp.array(2**31 - 5, jnp.int32))
    with pytest.raises(ValueError, match=r"`steps` \(10\) from step 2147483643 would count past"):
        mx.solve(GAME, SOLVER, sol.players, state=late, steps=10)
    with pytest.raises(ValueError, match="would count past 2147483647"):
        mx.solve(GAME, SOLVER, Z0, steps=2**31)


def _flaky(x, y, args, *, key):
    """x.y, whose gradient is NaN at about one step in fifty."""
    poison = jnp.where(jax.random.uniform(key) < 0.02, jnp.nan, 0.0)
    return jnp.vdot(x, y) + poison * jnp.sum(x)


def test_a_sanitising_projection_cannot_hide_a_failed_step():
    """`nan_to_num` would turn a NaN step into a finite point: the projection keeps the NaN, so
    every recording stops at the same step."""
    clean = lambda p: jnp.clip(jnp.nan_to_num(p), -5, 5)  # noqa: E731
    game = mx.ZeroSumGame(_flaky, project=(clean, clean))
    solver, key = mx.Simultaneous(optax.sgd(0.01)), jax.random.key(0)
    failed = set()
    for save_every in (1, 10, None):
        sol = mx.solve(game, solver, (jnp.ones(2), jnp.ones(2)), steps=500, key=key,
                       save_every=save_every, throw=False)  # fmt: skip
        assert sol.result == mx.RESULTS.nonfinite
        failed.add(int(sol.stats["failed_step"]))
        assert all(bool(jnp.isfinite(p).all()) for p in sol.players)
    assert len(failed) == 1 and 0 < failed.pop() < 500


def test_a_projection_must_keep_shapes():
    game = mx.ZeroSumGame(lambda x, y, args: jnp.vdot(x, y), project=(lambda p: p[:1], None))
    with pytest.raises(ValueError, match=r"`project\[0\]` must keep each array's shape"):
        mx.solve(game, mx.Simultaneous(optax.sgd(0.1)), (jnp.ones(2), jnp.ones(2)), steps=2)


def test_the_memory_guard_counts_vmapped_runs(monkeypatch):
    from minimax import _solve

    monkeypatch.setattr(_solve, "_memory_limit", lambda: 10**7)

    def run(lr):
        solver = mx.Simultaneous(mx.optimistic_gradient(lr))
        return mx.solve(GAME, solver, Z0, steps=1000, save_every=1).trajectory

    one = 1001 * 10 * 8  # rows of 10 float64 numbers: 80 kB, fine alone
    jax.eval_shape(run, 0.1)
    with pytest.raises(ValueError, match=f"{1001} rows of 80 bytes for each of 1000 runs"):
        jax.eval_shape(jax.vmap(run), jnp.full(1000, 0.1))
    assert one * 1000 > 10**7


def test_save_records_numbers_and_refuses_nothing():
    sol = mx.solve(GAME, SOLVER, Z0, steps=4, save=lambda players, args: 1.5)
    np.testing.assert_array_equal(sol.trajectory, [1.5] * 5)
    with pytest.raises(TypeError, match="`save` must return a PyTree of arrays or numbers"):
        mx.solve(GAME, SOLVER, Z0, steps=4, save=lambda players, args: None)


def test_integer_leaves_pass_through_solve_and_step():
    """Floating-point arrays are trained; an integer array (a label, a count) rides along."""
    game = mx.ZeroSumGame(lambda x, y, args: jnp.vdot(x[0], y) + 0.1 * jnp.vdot(x[0], x[0]))
    players = ((jnp.ones(3), jnp.arange(3)), jnp.ones(3))
    sol = mx.solve(game, SOLVER, players, steps=5)
    np.testing.assert_array_equal(sol.players[0][1], jnp.arange(3))
    state = SOLVER.init(game, players)
    stepped, _ = SOLVER.step(game, players, state)
    np.testing.assert_array_equal(stepped[0][1], jnp.arange(3))
    assert not tree_allclose(sol.players[0][0], players[0][0])


def test_linearised_rate_takes_a_runs_state_and_many_steps():
    sol = mx.solve(GAME, SOLVER, Z0, steps=3, save_every=None)
    point = GAME.equilibrium()
    one = mx.linearised_rate(SOLVER, GAME, point, state=sol.state)
    many = mx.linearised_rate(SOLVER, GAME, point, state=sol.state, steps=40)
    np.testing.assert_allclose(many.radius, one.radius, rtol=1e-6)


def test_restarts_on_a_stochastic_game_and_nonfinite_merits():
    def value(x, y, args, *, key):
        return jnp.vdot(x, y) + 0.01 * jax.random.normal(key) * jnp.sum(x)

    game = mx.ZeroSumGame(value)
    solver = mx.Restarted(mx.Simultaneous(mx.optimistic_gradient(0.1)), check_every=4)
    sol = mx.solve(game, solver, (jnp.ones(2), jnp.ones(2)), steps=20, key=jax.random.key(0))
    assert sol.result == mx.RESULTS.successful
    nan_merit = mx.Restarted(SOLVER, merit=lambda game, players, args: jnp.nan)
    with pytest.raises(RuntimeError, match="or the state made from them"):
        mx.solve(GAME, nan_merit, Z0, steps=3)


def test_gradient_through_a_run_that_stopped_early():
    """The failed block a run discards has a zero derivative, not 0 * inf = NaN: the gradient
    of what the run kept matches finite differences."""
    game = mx.ZeroSumGame(lambda x, y, args: jnp.vdot(x, y) + jnp.exp(jnp.sum(x)))

    def loss(lr):
        sol = mx.solve(game, mx.Simultaneous(optax.sgd(lr)), (jnp.ones(2), jnp.ones(2)),
                       steps=100, throw=False)  # fmt: skip
        return jnp.sum(jnp.arctan(sol.trajectory[0][:10])), sol.stats["failed_step"]

    (value, failed), grad = jax.value_and_grad(loss, has_aux=True)(0.5)
    assert 10 < int(failed) < 100 and bool(jnp.isfinite(value))
    h = 1e-6
    fd = (loss(0.5 + h)[0] - loss(0.5 - h)[0]) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_cgd_in_low_precision_mixed_and_empty_leaves(dtype):
    """bfloat16 and float16 players run (and follow the float32 run to their precision); a
    player mixing dtypes, or holding an empty array, is no linear-solve failure."""
    import games

    game = games.Bilinear.random(jax.random.key(0), 4, sigma_min=0.5, sigma_max=2.0)
    low = games.Bilinear(game.A.astype(dtype))
    for solver in (mx.CGD(0.1), mx.ACGD(0.1)):
        ref = mx.solve(game, solver, (jnp.ones(4), jnp.ones(4)), steps=20, save_every=None)
        sol = mx.solve(low, solver, (jnp.ones(4, dtype), jnp.ones(4, dtype)), steps=20,
                       save_every=None)  # fmt: skip
        assert sol.players[0].dtype == dtype
        np.testing.assert_allclose(sol.players[0].astype(float), ref.players[0], atol=0.05)
    A = game.A.astype(jnp.float32)
    mixed = mx.ZeroSumGame(
        lambda x, y, a: x[0] @ A @ y + 0.1 * jnp.sum(x[1].astype(jnp.float32)) * jnp.sum(y)
    )
    z = ((jnp.ones(4, jnp.float32), jnp.ones(2, dtype)), jnp.ones(4, jnp.float32))
    assert mx.solve(mixed, mx.CGD(0.1), z, steps=5).result == mx.RESULTS.successful
    empty = mx.ZeroSumGame(lambda x, y, a: x[0] @ A @ y + jnp.sum(x[1]))
    z = ((jnp.ones(4, jnp.float32), jnp.ones(0, jnp.float32)), jnp.ones(4, jnp.float32))
    for solver in (mx.CGD(0.1), mx.ACGD(0.1)):
        assert mx.solve(empty, solver, z, steps=5).result == mx.RESULTS.successful
