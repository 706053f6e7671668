"""minimax.gan: R1, R2 and WGAN-GP against hand-computed values, per-sample gradients, traced
weights, a stateful discriminator, and DiracGAN's penalty going through R1."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import games
import minimax as mx

W = jnp.array([[1.0, -2.0], [0.5, 3.0]])


def _quadratic(x):
    """D(x) = x^T W x / 2: gradient (W + W^T) x / 2, different at every sample."""
    return 0.5 * x @ W @ x


def _grads(points):
    return np.asarray(points) @ np.asarray((W + W.T) / 2).T


POINTS = jnp.array([[1.0, 2.0], [-0.5, 0.25], [3.0, -1.0]])


@pytest.mark.parametrize("penalty", (mx.gan.r1, mx.gan.r2))
def test_r1_r2_per_sample(penalty):
    # gamma / 2 * mean_i |grad D(x_i)|^2: per sample, not the gradient of the batch's sum.
    want = 0.7 / 2 * np.mean(np.sum(_grads(POINTS) ** 2, axis=1))
    np.testing.assert_allclose(penalty(_quadratic, POINTS, 0.7), want, rtol=1e-12)
    assert float(penalty(_quadratic, POINTS, 0)) == 0.0


def test_gradient_penalty_interpolates():
    real, fake = POINTS, -2.0 * POINTS[::-1]
    key = jax.random.key(0)
    eps = np.asarray(jax.random.uniform(key, (3, 1), real.dtype))
    between = eps * np.asarray(real) + (1 - eps) * np.asarray(fake)
    norms = np.linalg.norm(_grads(between), axis=1)
    want = 10.0 * np.mean((norms - 1) ** 2)
    np.testing.assert_allclose(mx.gan.gradient_penalty(_quadratic, real, fake, key, 10.0), want)
    # A critic with gradient norm 1 everywhere is not penalised; a flat one pays gamma, with a
    # finite derivative (no NaN from the square root at 0).
    unit = mx.gan.gradient_penalty(lambda x: x[0], real, fake, key, 10.0)
    assert float(unit) == 0.0
    flat, grad = jax.value_and_grad(
        lambda a: mx.gan.gradient_penalty(lambda x: a * jnp.sum(x), real, fake, key, 10.0)
    )(0.0)
    assert float(flat) == 10.0 and np.isfinite(grad)


def test_image_shaped_samples_and_mlp():
    images = jax.random.normal(jax.random.key(0), (4, 2, 3))
    D = eqx.nn.MLP(6, "scalar", 8, 1, key=jax.random.key(1))

    def on_image(x):
        return D(x.ravel())

    flat = mx.gan.r1(D, images.reshape(4, 6), 2.0)
    np.testing.assert_allclose(mx.gan.r1(on_image, images, 2.0), flat, rtol=1e-12)


def test_differentiable_in_the_discriminator():
    """Double backpropagation: d/da of gamma/2 mean |a v|^2 = gamma a |v|^2 (D(x) = a v.x)."""
    v = jnp.array([1.0, 2.0])

    def penalty(a):
        return mx.gan.r1(lambda x: a * (v @ x), POINTS, 3.0)

    np.testing.assert_allclose(jax.grad(penalty)(0.5), 3.0 * 0.5 * 5.0, rtol=1e-12)


def test_traced_gamma_no_recompile():
    compiles = []

    @jax.jit
    def r1(gamma):
        compiles.append(None)
        return mx.gan.r1(_quadratic, POINTS, gamma)

    gammas = jnp.array([0.0, 1.0, 10.0])
    batched = jax.vmap(r1)(gammas)
    np.testing.assert_allclose(batched, gammas * r1(1.0), rtol=1e-12)
    r1(2.0), r1(3.0)
    assert len(compiles) == 2  # once under vmap, once for scalars: not once per value


def test_stateful_discriminator():
    """A spectrally normalised discriminator, `D(x, state) -> (logit, state)`: the penalty
    reads the state (the normalised weights) and does not advance it."""

    class Critic(eqx.Module):
        layer: eqx.nn.SpectralNorm

        def __init__(self, key):
            k1, k2 = jax.random.split(key)
            linear = eqx.nn.Linear(2, "scalar", key=k1)
            self.layer = eqx.nn.SpectralNorm(linear, "weight", key=k2)

        def __call__(self, x, state):
            return self.layer(x, state)

    critic, state = eqx.nn.make_with_state(Critic)(jax.random.key(0))
    got = mx.gan.r1(critic, POINTS, 2.0, state=state)
    # The first power iteration on a rank-one weight is exact: sigma = |w|, and the gradient
    # of x -> w.x / |w| has norm 1.
    np.testing.assert_allclose(got, 1.0, rtol=1e-6)
    critic(POINTS[0], state)  # `state` is still valid: the penalty used a copy
    with pytest.raises(TypeError):
        mx.gan.r1(critic, POINTS, 2.0)  # the state is required by this D


@pytest.mark.parametrize("loss", ("standard", "non-saturating", "wgan"))
def test_dirac_penalty_goes_through_r1(loss):
    """DiracGAN's discriminator loss adds mx.gan.r1 of D(x) = psi x at the data (x = 0): the
    field equals the closed form gamma psi for the discriminator, to 1e-12 in float64."""
    gamma = 0.8
    point = (jnp.array(0.7), jnp.array(-1.3))
    plain = games.DiracGAN(loss).vector_field(point)
    penalised = games.DiracGAN(loss, gradient_penalty=gamma).vector_field(point)
    assert penalised[1].dtype == jnp.float64
    np.testing.assert_allclose(penalised[0], plain[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(penalised[1], plain[1] + gamma * point[1], rtol=0, atol=1e-12)


def test_errors():
    with pytest.raises(ValueError, match="`gamma`"):
        mx.gan.r1(_quadratic, POINTS, -1.0)
    with pytest.raises(TypeError, match="D"):
        mx.gan.r2(None, POINTS, 1.0)
    with pytest.raises(ValueError, match="`real`"):
        mx.gan.r1(_quadratic, jnp.zeros((0, 2)), 1.0)
    with pytest.raises(ValueError, match="scalar logit"):
        mx.gan.r1(lambda x: x, POINTS, 1.0)
    with pytest.raises(ValueError, match="`fake`"):
        mx.gan.gradient_penalty(_quadratic, POINTS, POINTS[:2], jax.random.key(0), 1.0)
