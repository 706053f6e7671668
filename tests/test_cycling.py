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
