"""The cycling metrics, and the claim the library exists for: the fixed first step cycles less."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import games
import minimax as mx

ORIGIN = (jnp.zeros(1), jnp.zeros(1))


def test_metrics_on_a_hand_computed_spiral():
    # z_t = 0.5^t (cos(t pi/2), sin(t pi/2)): a quarter turn per step, halving the radius.
    t = jnp.arange(4.0)
    r = 0.5**t
    trajectory = ((r * jnp.cos(t * jnp.pi / 2))[:, None], (r * jnp.sin(t * jnp.pi / 2))[:, None])
    report = mx.cycling(trajectory, ORIGIN, tol=0.1)
    np.testing.assert_allclose(report.first_move, np.hypot(1, 0.5))
    np.testing.assert_allclose(report.overshoot, 1.0)
    np.testing.assert_allclose(report.rotations, 0.75, rtol=1e-12)
    np.testing.assert_allclose(report.distance, 0.125)
    steps = np.hypot(r[:-1], r[1:])  # consecutive points are at right angles
    np.testing.assert_allclose(report.path_length, steps.sum(), rtol=1e-12)
    assert report.steps_to_tol == np.inf
    loose = mx.cycling(trajectory, ORIGIN, tol=0.3)
    np.testing.assert_allclose(loose.rotations, 0.5, rtol=1e-12)  # turns inside tol not counted
    assert loose.steps_to_tol == 2.0


def test_overshoot_counts_excursions_and_vmaps():
    xs = jnp.array([[1.0, 2.0, 0.5], [1.0, 0.5, 0.25]])  # two runs, one overshooting to 2x
    report = jax.vmap(lambda x: mx.cycling((x[:, None], jnp.zeros((3, 1))), ORIGIN))(xs)
    np.testing.assert_allclose(report.overshoot, [2.0, 1.0])
    np.testing.assert_allclose(report.path_length, [2.5, 0.75])


KEY = jax.random.key(0)
COMPARISON = {  # name: (game, learning rate), the benchmark's games
    "bilinear": (games.matrix_games(KEY, 10)["bilinear"], 0.2),
    "quadratic": (games.matrix_games(KEY, 10, 8)["quadratic"], 0.1),
}


@pytest.mark.parametrize("beta", [1.0, 4.0])
@pytest.mark.parametrize("name", list(COMPARISON))
def test_fixed_first_step_cycles_less(name, beta):
    """Seeds 1-5 of standard normal starts; alpha 1, 5000 steps, tolerance 1e-8."""
    game, lr = COMPARISON[name]
    n, m = game.A.shape
    starts = [
        (jax.random.normal(kx, (n,)), jax.random.normal(ky, (m,)))
        for kx, ky in (jax.random.split(jax.random.key(seed)) for seed in range(1, 6))
    ]
    reports = {}
    for rule in ("fixed", "legacy"):
        solver = mx.Simultaneous(mx.optimistic_gradient(lr, 1.0, beta, first_step=rule))
        reports[rule] = [
            mx.cycling(
                mx.solve(game, solver, z0, steps=3000).trajectory, game.equilibrium(), tol=1e-6
            )
            for z0 in starts
        ]
    for fixed, legacy in zip(reports["fixed"], reports["legacy"], strict=True):
        assert fixed.overshoot <= legacy.overshoot
        assert fixed.path_length < legacy.path_length
        assert np.isfinite(fixed.steps_to_tol) and np.isfinite(legacy.steps_to_tol)
        assert abs(fixed.steps_to_tol - legacy.steps_to_tol) <= 0.01 * legacy.steps_to_tol


def test_a_run_from_the_equilibrium_has_no_nan():
    """From the equilibrium (d_0 = 0), relative lengths are 0 where the run stays, inf where it
    leaves (the convention in `minimax.Cycling`)."""
    stays = (jnp.zeros((3, 1)), jnp.zeros((3, 1)))
    report = mx.cycling(stays, ORIGIN)
    assert tuple(map(float, report)) == (0.0, 1.0, 0.0, 0.0, 0.0, 0.0)
    leaves = (jnp.array([[0.0], [0.1], [0.2]]), jnp.zeros((3, 1)))
    report = mx.cycling(leaves, ORIGIN)
    assert tuple(map(float, report)) == (np.inf, np.inf, np.inf, 0.0, np.inf, np.inf)
    returns = (jnp.array([[0.0], [0.1], [0.0]]), jnp.zeros((3, 1)))
    report = mx.cycling(returns, ORIGIN)
    assert (float(report.distance), float(report.steps_to_tol)) == (0.0, 2.0)
    # A real run: OGDA started at the equilibrium of x y stays there.
    game = mx.ZeroSumGame(lambda x, y, args: x * y)
    solver = mx.Simultaneous(mx.optimistic_gradient(0.2))
    sol = mx.solve(game, solver, (jnp.array(0.0), jnp.array(0.0)), steps=5)
    report = mx.cycling(sol.trajectory, (0.0, 0.0))
    assert not np.isnan(np.array(report)).any() and float(report.path_length) == 0.0
    # Under vmap, a batch with one run from the equilibrium.
    xs = jnp.array([[1.0, 0.5, 0.0], [0.0, 0.0, 0.0]])
    batch = jax.vmap(lambda x: mx.cycling((x[:, None], jnp.zeros((3, 1))), ORIGIN))(xs)
    np.testing.assert_array_equal(batch.path_length, [1.0, 0.0])


def test_bad_trajectories_and_equilibria():
    game = mx.ZeroSumGame(lambda x, y, args: x * y)
    solver = mx.Simultaneous(mx.optimistic_gradient(0.2))
    start = (jnp.array(1.0), jnp.array(1.0))
    sol = mx.solve(game, solver, start, steps=3)
    with pytest.raises(TypeError, match=r"`equilibrium` must be a pair `\(x\*, y\*\)`.*float"):
        mx.cycling(sol.trajectory, 5.0)
    with pytest.raises(TypeError, match=r"`point` must be a pair"):
        mx.distance(sol.trajectory, (0.0,))
    recorded = mx.solve(game, solver, start, steps=3, save=lambda p, args: {"x": p[0]})
    with pytest.raises(TypeError, match=r"`trajectory` must be a pair.*with `save=`.*got dict"):
        mx.cycling(recorded.trajectory, (0.0, 0.0))
    with pytest.raises(ValueError, match=r"leading axis of steps.*Final players"):
        mx.cycling(sol.players, (0.0, 0.0))
    with pytest.raises(TypeError, match="no floating-point arrays"):
        mx.distance((jnp.arange(3), jnp.arange(3)), (0.0, 0.0))
