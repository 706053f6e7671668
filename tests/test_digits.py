"""games.DigitsGAN: the data split, the score and its baselines, the losses with and without a
model state (BatchNorm, spectral normalisation), and a short run of `solve`."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import games
import minimax as mx

pytest.importorskip("sklearn")

GAME = games.DigitsGAN()
STATEFUL = games.DigitsGAN(batch_norm=True, spectral_norm=True, batch_size=16)
KEY = jax.random.key(0)


def test_data_split():
    from games.digits import _digits

    train, train_labels, test, test_labels = _digits()
    assert train.shape == (899, 64) and test.shape == (898, 64)
    assert train.min() == 0.0 and train.max() == 1.0  # pixels 0-16 scaled to [0, 1]
    assert np.array_equal(GAME.data, train)
    # Disjoint halves of the 1797 digits, every class in each.
    rows = {row.tobytes() for row in train}
    assert sum(row.tobytes() in rows for row in test) < 20  # a few digits are duplicates
    assert set(train_labels) == set(test_labels) == set(range(10))


def test_score_and_baselines():
    base = GAME.baselines(num_samples=500)
    real, gaussian, mixture = base["training digits"], base["gaussian"], base["mixture"]
    assert real.classes_covered == 10 and real.kl_uniform < 0.01
    # Real digits are closer to the held-out ones than a mixture fitted to them, which is
    # closer than one Gaussian.
    assert real.frechet < mixture.frechet < gaussian.frechet
    # One digit repeated: one class, KL = log 10; no digit at all: far from the data.
    ones = GAME.score(np.repeat(GAME.data[:1], 100, axis=0))
    assert ones.classes_covered == 1 and np.isclose(ones.kl_uniform, np.log(10))
    assert GAME.score(np.zeros((100, 64))).frechet > 10 * mixture.frechet
    assert np.isclose(ones.class_fractions.sum(), 1.0)
    with pytest.raises(ValueError, match="`samples`"):
        GAME.score(np.zeros((10, 63)))


@eqx.filter_jit
def _losses_and_penalty(players, key):
    real, _ = GAME.minibatch(key)
    plain = games.DigitsGAN(0.0).losses(players, key=key)
    return plain, GAME.losses(players, key=key), mx.gan.r1(players[1], real, 1.0)


def test_losses_and_r1():
    players = GAME.init_players(KEY)
    G, D = players
    assert G.in_size == 16 and G.out_size == 64 and D.out_size == "scalar"
    plain, penalised, r1 = _losses_and_penalty(players, KEY)
    assert penalised[0] == plain[0]  # the generator does not feel R1
    np.testing.assert_allclose(penalised[1] - plain[1], r1, rtol=1e-6)
    samples = GAME.sample(G, KEY, 5)
    assert samples.shape == (5, 64) and float(samples.min()) >= 0 and float(samples.max()) <= 1
    with pytest.raises(ValueError, match="`key`"):
        GAME.losses(players)
    with pytest.raises(ValueError, match="no model state"):
        GAME.losses(players, key=KEY, model_state=(None, None))


def test_traced_gamma():
    players = GAME.init_players(KEY)

    @jax.jit
    @jax.vmap
    def loss_d(gamma):
        return games.DigitsGAN(gamma).losses(players, key=KEY)[1]

    gammas = jnp.array([0.0, 1.0, 4.0])
    got = loss_d(gammas)
    want = [games.DigitsGAN(float(g)).losses(players, key=KEY)[1] for g in gammas]
    np.testing.assert_allclose(got, want, rtol=1e-6)


@eqx.filter_jit
def _stateful_step(players, model_state, key):
    """The losses, their gradients and the new model state, and samples in inference mode."""
    params, static = mx.split_players(players)

    def loss(params):
        (l0, l1), new = STATEFUL.losses(
            eqx.combine(params, static), key=key, model_state=model_state
        )
        return l0 + l1, ((l0, l1), new)

    grads, (losses, new_state) = jax.grad(loss, has_aux=True)(params)
    samples = STATEFUL.sample(players[0], key, 7, model_state=model_state)
    z = jax.random.normal(key, (7, 16), samples.dtype)
    # Inference mode: a sample depends on its own latent only, not on the rest of the batch.
    alone = jax.vmap(
        eqx.nn.inference_mode(players[0]),
        axis_name="batch",
        in_axes=(0, None),
        out_axes=(0, None),
    )(z[:1], model_state[0])[0]
    return losses, grads, new_state, samples, alone


def test_model_state():
    """BatchNorm in G and spectral normalisation in D: the losses thread the model state,
    which the gradients do not touch; sampling runs G in inference mode."""
    players = STATEFUL.init_players(KEY)
    assert games.DigitsGAN().init_model_state(KEY) is None
    losses, grads, new_state, samples, alone = _stateful_step(
        players, STATEFUL.init_model_state(KEY), KEY
    )
    assert all(np.isfinite(loss) for loss in losses)
    assert all(np.isfinite(g).all() for g in jax.tree.leaves(grads))
    before, after = (jax.tree.leaves(s) for s in (STATEFUL.init_model_state(KEY), new_state))
    assert len(before) == len(after) > 0
    # BatchNorm's running statistics moved (spectral normalisation's vectors may not have).
    assert not all(np.allclose(a, b) for a, b in zip(before, after, strict=True))
    assert samples.shape == (7, 64)
    np.testing.assert_allclose(alone, samples[:1], rtol=1e-6)
    with pytest.raises(ValueError, match="model_state"):
        STATEFUL.losses(players, key=KEY)
    with pytest.raises(ValueError, match="model_state"):
        STATEFUL.sample(players[0], KEY, 3)


def test_model_state_through_solve():
    """BatchNorm and spectral normalisation through `solve` with a model state, and an EMA of
    the generator: the state is threaded (BatchNorm's statistics move), the players train."""
    players = STATEFUL.init_players(KEY, width=16, depth=1)
    model_state = STATEFUL.init_model_state(KEY, width=16, depth=1)
    solver = mx.EMA(mx.Simultaneous(optax.adam(1e-3)), 0.9, players=(True, False))
    sol = mx.solve(
        STATEFUL, solver, players, steps=5, key=KEY, save_every=None, model_state=model_state
    )
    assert sol.result == mx.RESULTS.successful
    before = jax.tree.leaves(STATEFUL.init_model_state(KEY, width=16, depth=1))
    after = jax.tree.leaves(sol.model_state)
    assert not all(np.allclose(a, b) for a, b in zip(before, after, strict=True))
    samples = STATEFUL.sample(sol.answer[0], KEY, 4, model_state=sol.model_state)
    assert samples.shape == (4, 64) and bool(jnp.isfinite(samples).all())


def test_errors():
    with pytest.raises(ValueError, match="`gamma`"):
        games.DigitsGAN(-1.0)
    with pytest.raises(ValueError, match="`batch_size`"):
        games.DigitsGAN(batch_size=0)
    with pytest.raises(ValueError, match="`width`"):
        GAME.init_players(KEY, width=0)
    with pytest.raises(NotImplementedError):
        GAME.equilibrium()
