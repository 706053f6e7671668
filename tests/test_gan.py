"""GAN games: gradients against hand-derived formulas, equilibria, metrics, short training runs,
argument errors and the use of the PRNG key."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import games
import minimax as mx

from .helpers import tree_allclose

DIRAC_LOSSES = ("standard", "non-saturating", "wgan")


def _sigmoid(t):
    return 1 / (1 + np.exp(-t))


# --------------------------------------------------------------------------------------------
# DiracGAN


@pytest.mark.parametrize("loss", DIRAC_LOSSES)
@pytest.mark.parametrize("gamma", (0.0, 0.5))
def test_dirac_gradients(loss, gamma):
    theta, psi = 0.7, -1.3
    t = theta * psi
    # f(t) = -log(1 + e^{-t}), f'(t) = sigmoid(-t); the generator minimises f(psi theta) (or
    # -f(-psi theta) for the non-saturating loss); the discriminator maximises f(psi theta) + f(0)
    # minus the R1 penalty gamma/2 psi^2.
    if loss == "standard":
        g_theta, g_psi = psi * _sigmoid(-t), -theta * _sigmoid(-t)
    elif loss == "non-saturating":
        g_theta, g_psi = psi * _sigmoid(t), -theta * _sigmoid(-t)
    else:
        g_theta, g_psi = psi, -theta
    g_psi += gamma * psi
    game = games.DiracGAN(loss, gradient_penalty=gamma)
    got = game.vector_field((jnp.array(theta), jnp.array(psi)))
    assert np.allclose(got, (g_theta, g_psi), rtol=1e-12, atol=0)


@pytest.mark.parametrize("loss", DIRAC_LOSSES)
def test_dirac_equilibrium(loss):
    game = games.DiracGAN(loss)
    eq = game.equilibrium()
    assert tree_allclose(eq, (jnp.array(0.0), jnp.array(0.0)))
    assert tree_allclose(game.vector_field(eq), (jnp.array(0.0), jnp.array(0.0)))
    assert float(mx.hamiltonian(game, eq)) == 0.0


_GDA = mx.Simultaneous(optax.sgd(0.1))
_OGDA = mx.Simultaneous(mx.optimistic_gradient(0.1))


@pytest.mark.parametrize("loss", DIRAC_LOSSES)
def test_dirac_gda_cycles_ogda_converges(loss):
    game = games.DiracGAN(loss)
    start = (jnp.array(1.0), jnp.array(1.0))
    eq = game.equilibrium()
    gda = mx.distance(mx.solve(game, _GDA, start, steps=2000).trajectory, eq)
    ogda = mx.solve(game, _OGDA, start, steps=2000).trajectory
    # GDA never settles: it spirals out (standard, WGAN) or onto a limit cycle (non-saturating).
    assert float(jnp.min(gda[-500:])) > 0.2 * float(gda[0])
    report = mx.cycling(ogda, eq)
    assert float(report.distance) < 0.1
    assert float(report.rotations) > 1  # it does turn around the equilibrium on the way in
    # The R1 penalty (Mescheder et al.'s fix) makes plain simultaneous GDA converge too.
    penalised = games.DiracGAN(loss, gradient_penalty=1.0)
    gda_r1 = mx.distance(mx.solve(penalised, _GDA, start, steps=2000).trajectory, eq)
    assert float(gda_r1[-1]) < 1e-6


def test_dirac_errors():
    with pytest.raises(ValueError, match="`loss`"):
        games.DiracGAN("hinge")
    with pytest.raises(ValueError, match="`gradient_penalty`"):
        games.DiracGAN(gradient_penalty=-1.0)
    with pytest.raises(ValueError, match=r"players\[0\]"):
        games.DiracGAN().vector_field((jnp.ones(2), jnp.array(0.0)))
    with pytest.raises(ValueError, match=r"players\[1\]"):
        games.DiracGAN().vector_field((jnp.array(0.0), jnp.ones(1)))


# --------------------------------------------------------------------------------------------
# GaussianMeanWGAN

_V = np.array([3.0, 4.0])


def test_gaussian_mean_deterministic_gradients_and_equilibrium():
    game = games.GaussianMeanWGAN()
    theta, w = jnp.array([1.0, -2.0]), jnp.array([0.5, 0.25])
    g_theta, g_w = game.vector_field((theta, w))
    # f = <w, v - theta>: d/dtheta f = -w; the maximiser w follows -(d/dw f) = theta - v.
    assert np.allclose(g_theta, -w) and np.allclose(g_w, theta - _V)
    eq = game.equilibrium()
    assert np.allclose(eq[0], _V) and np.allclose(eq[1], 0.0)
    assert float(mx.hamiltonian(game, eq)) == 0.0


def test_gaussian_mean_stochastic_gradients():
    game = games.GaussianMeanWGAN(batch_size=64)
    theta, w = jnp.array([1.0, -2.0]), jnp.array([0.5, 0.25])
    keys = jax.random.split(jax.random.key(0), 400)
    g_theta, g_w = jax.jit(jax.vmap(lambda k: game.vector_field((theta, w), key=k)))(keys)
    # The generator's gradient -w does not depend on the batch; the discriminator's
    # theta + mean(z) - mean(x) has mean theta - v and variance 2 / batch_size per coordinate.
    assert np.allclose(g_theta, -w[None, :])
    assert np.allclose(g_w.mean(0), theta - _V, atol=0.05)
    assert np.allclose(g_w.var(0), 2 / 64, rtol=0.3)
    # Same key, same batch; another key, another batch.
    again = game.vector_field((theta, w), key=keys[0])
    assert np.array_equal(again[1], g_w[0])
    assert not np.allclose(g_w[0], g_w[1])


def test_gaussian_mean_training():
    game = games.GaussianMeanWGAN()
    start = (jnp.zeros(2), jnp.zeros(2))
    eq = game.equilibrium()
    report = mx.cycling(mx.solve(game, _OGDA, start, steps=500).trajectory, eq)
    assert float(report.distance) < 0.1 and float(report.rotations) > 1
    gda = mx.distance(mx.solve(game, _GDA, start, steps=500).trajectory, eq)
    assert float(gda[-1]) > float(gda[0])  # simultaneous GDA spirals out
    # With mini-batches OGDA still gets close to v (up to the gradient noise).
    noisy = mx.solve(game, _OGDA, start, steps=500, key=jax.random.key(0))
    d = mx.distance(noisy.trajectory, eq)
    assert float(jnp.mean(d[-100:])) < 0.3 * float(d[0])


def test_gaussian_mean_errors():
    with pytest.raises(ValueError, match="`batch_size`"):
        games.GaussianMeanWGAN(batch_size=0)
    with pytest.raises(ValueError, match="`mean`"):
        games.GaussianMeanWGAN(mean=[[1.0, 2.0]])
    game = games.GaussianMeanWGAN()
    with pytest.raises(ValueError, match=r"players\[0\]"):
        game.vector_field((jnp.zeros(3), jnp.zeros(2)))
    with pytest.raises(ValueError, match=r"players\[1\]"):
        game.vector_field((jnp.zeros(2), jnp.zeros(3)), key=jax.random.key(0))


# --------------------------------------------------------------------------------------------
# MixtureGAN

RING = games.MixtureGAN("ring", batch_size=128, latent_size=4)
GRID = games.MixtureGAN("grid")


@eqx.filter_jit
def _ring_field(players, key):
    return RING.vector_field(players, key=key)


def _min_pairwise_distance(points):
    d = np.linalg.norm(points[:, None] - points[None, :], axis=-1)
    return d[~np.eye(len(points), dtype=bool)].min()


def test_mixture_modes():
    ring, grid = np.asarray(RING.means), np.asarray(GRID.means)
    assert ring.shape == (8, 2) and grid.shape == (25, 2)
    assert np.allclose(np.linalg.norm(ring, axis=1), 2.0)
    # Evenly spaced and distinct: linspace(0, 2 pi, 8) with its endpoint would repeat a mode.
    assert np.isclose(_min_pairwise_distance(ring), 4 * np.sin(np.pi / 8))
    assert np.isclose(_min_pairwise_distance(grid), 2.0)
    assert np.allclose(np.unique(grid), [-4, -2, 0, 2, 4])
    assert RING.std == 0.02 and GRID.std == 0.05


@pytest.mark.parametrize("game", (RING, GRID), ids=("ring", "grid"))
def test_mixture_metrics_on_data(game):
    samples = game.sample_data(jax.random.key(0), 2500)
    m = game.metrics(samples)
    assert int(m.modes_covered) == game.num_modes
    # Within 3 std of the mode in 2-D: P(chi^2_2 <= 9) = 1 - e^{-4.5} = 0.989.
    assert abs(float(m.high_quality) - (1 - np.exp(-4.5))) < 0.01
    assert int(m.counts.sum()) == round(float(m.high_quality) * 2500)


def test_mixture_metrics_collapsed():
    at_origin = jnp.zeros((1000, 2))
    m = RING.metrics(at_origin)
    assert int(m.modes_covered) == 0 and float(m.high_quality) == 0.0
    # All on one mode: one mode covered, every sample high quality.
    on_mode = RING.means[3][None, :] + 0.01 * jax.random.normal(jax.random.key(0), (1000, 2))
    m = RING.metrics(on_mode)
    assert int(m.modes_covered) == 1 and float(m.high_quality) == 1.0 and int(m.counts[3]) == 1000
    # Half the ring (4 modes), and a mode with too few samples to count.
    half = RING.sample_data(jax.random.key(1), 1000)
    half = half[jnp.linalg.norm(half - RING.means[0][None, :], axis=1) < 2.9]
    assert int(RING.metrics(half).modes_covered) in (3, 4, 5)
    assert int(RING.metrics(on_mode, min_count=1001).modes_covered) == 0


def test_mixture_gradients_match_formula():
    """Affine players, so that the non-saturating gradients can be written by hand."""
    key_g, key_d, key_batch = jax.random.split(jax.random.key(0), 3)
    generator = eqx.nn.Linear(RING.latent_size, 2, key=key_g)
    discriminator = eqx.nn.Linear(2, "scalar", key=key_d)
    g_grad, d_grad = _ring_field((generator, discriminator), key_batch)

    real, z = RING.minibatch(key_batch)
    W, b = np.asarray(generator.weight), np.asarray(generator.bias)
    # A scalar `eqx.nn.Linear` stores a (1, 2) weight and a (1,) bias.
    a, c = np.asarray(discriminator.weight)[0], float(discriminator.bias[0])
    fake = np.asarray(z) @ W.T + b
    s_real, s_fake = np.asarray(real) @ a + c, fake @ a + c
    # l_G = mean softplus(-D(G(z))): dl/dD(fake) = -sigmoid(-s) / n
    u = -_sigmoid(-s_fake) / len(z)
    assert np.allclose(g_grad.weight, np.outer(a, u @ np.asarray(z)))
    assert np.allclose(g_grad.bias, u.sum() * a)
    # l_D = mean softplus(-D(x)) + mean softplus(D(G(z)))
    r, f = -_sigmoid(-s_real) / len(z), _sigmoid(s_fake) / len(z)
    assert np.allclose(d_grad.weight, (r @ np.asarray(real) + f @ fake)[None, :])
    assert np.allclose(d_grad.bias, [r.sum() + f.sum()])


def test_mixture_key():
    players = RING.init_players(jax.random.key(0), width=8, depth=1)
    k0, k1 = jax.random.key(1), jax.random.key(2)
    assert tree_allclose(RING.minibatch(k0), RING.minibatch(k0))
    assert not np.allclose(RING.minibatch(k0)[0], RING.minibatch(k1)[0])
    assert np.array_equal(RING.losses(players, key=k0), RING.losses(players, key=k0))
    assert not np.allclose(RING.losses(players, key=k0), RING.losses(players, key=k1))
    with pytest.raises(ValueError, match="`key`"):
        RING.losses(players)


def test_mixture_discriminator_gap():
    generator = eqx.nn.Linear(RING.latent_size, 2, use_bias=False, key=jax.random.key(0))
    generator = eqx.tree_at(lambda g: g.weight, generator, jnp.zeros((2, RING.latent_size)))

    def on_ring(x):  # a perfect discriminator for a generator collapsed at the origin
        return 10 * (jnp.sum(x**2) - 1)

    def constant(x):
        return jnp.sum(x) * 0.0

    gap = RING.discriminator_gap((generator, on_ring), jax.random.key(1))
    assert float(gap) > 0.99
    assert float(RING.discriminator_gap((generator, constant), jax.random.key(1))) == 0.0


def test_mixture_errors():
    with pytest.raises(ValueError, match="`batch_size`"):
        games.MixtureGAN(batch_size=0)
    for std in (0.0, -0.1):
        with pytest.raises(ValueError, match="`std`"):
            games.MixtureGAN(std=std)
    with pytest.raises(ValueError, match="`kind`"):
        games.MixtureGAN("spiral")
    with pytest.raises(ValueError, match="`num_modes`"):
        games.MixtureGAN("grid", num_modes=24)
    with pytest.raises(ValueError, match="`means`"):
        games.MixtureGAN(means=[1.0, 2.0], std=0.1)
    with pytest.raises(ValueError, match="`latent_size`"):
        games.MixtureGAN(latent_size=0)
    key = jax.random.key(0)
    generator, discriminator = RING.init_players(key, width=8, depth=1)
    # A generator whose points have the wrong dimension.
    wrong_dim = eqx.nn.MLP(RING.latent_size, 3, 8, 1, key=key)
    with pytest.raises(ValueError, match=r"players\[0\].*data dimension"):
        RING.losses((wrong_dim, discriminator), key=key)
    wrong_latent = eqx.nn.MLP(RING.latent_size + 1, 2, 8, 1, key=key)
    with pytest.raises(ValueError, match=r"players\[0\].*latent_size"):
        RING.losses((wrong_latent, discriminator), key=key)
    # A discriminator that returns a vector of one logit instead of a scalar.
    vector_d = eqx.nn.MLP(2, 1, 8, 1, key=key)
    with pytest.raises(ValueError, match=r"players\[1\].*scalar"):
        RING.losses((generator, vector_d), key=key)
    with pytest.raises(ValueError, match="`samples`"):
        RING.metrics(jnp.zeros((10, 3)))


def test_mixture_custom_means():
    game = games.MixtureGAN(means=[[0.0, 0.0, 0.0], [5.0, 5.0, 5.0]], std=0.1, latent_size=2)
    assert game.data_size == 3 and game.num_modes == 2
    samples = game.sample_data(jax.random.key(0), 500)
    assert samples.shape == (500, 3) and int(game.metrics(samples).modes_covered) == 2
    with pytest.raises(ValueError, match="`std`"):
        games.MixtureGAN(means=[[0.0, 0.0]])


def test_mixture_trains_with_solve():
    """A few hundred steps of optimistic Adam move the generator's samples onto the ring."""
    players = RING.init_players(jax.random.key(0), width=32)
    solver = mx.Simultaneous(mx.optimistic_adam(3e-3, b1=0.5, b2=0.9))
    sol = mx.solve(RING, solver, players, steps=300, key=jax.random.key(1), save_every=None)
    assert sol.result == mx.RESULTS.successful

    def distance_to_ring(generator):
        samples = RING.sample(generator, jax.random.key(2), 1000)
        return float(jnp.mean(jnp.abs(jnp.linalg.norm(samples, axis=1) - 2.0)))

    before, after = distance_to_ring(players[0]), distance_to_ring(sol.players[0])
    assert before > 1.0 and after < 0.4 * before
