"""Model state (BatchNorm, SpectralNorm): threaded through every solver, never trained, carried
by resumes and checkpoints; parity with a hand-written equinox loop."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import minimax as mx

from .helpers import tree_allclose

LATENT, DATA, BATCH = 3, 2, 16


class Generator(eqx.Module):
    """latent -> Linear -> BatchNorm(batch statistics) -> tanh -> Linear -> data."""

    first: eqx.nn.Linear
    norm: eqx.nn.BatchNorm
    last: eqx.nn.Linear

    def __init__(self, key):
        k1, k2 = jax.random.split(key)
        self.first = eqx.nn.Linear(LATENT, 8, key=k1)
        self.norm = eqx.nn.BatchNorm(8, axis_name="batch", mode="batch")
        self.last = eqx.nn.Linear(8, DATA, key=k2)

    def __call__(self, z, state):
        h, state = self.norm(self.first(z), state)
        return self.last(jnp.tanh(h)), state


class Critic(eqx.Module):
    """data -> spectrally normalised Linear -> tanh -> Linear -> logit."""

    first: eqx.nn.SpectralNorm
    last: eqx.nn.Linear

    def __init__(self, key):
        k1, k2, k3 = jax.random.split(key, 3)
        self.first = eqx.nn.SpectralNorm(eqx.nn.Linear(DATA, 8, key=k1), "weight", key=k2)
        self.last = eqx.nn.Linear(8, "scalar", key=k3)

    def __call__(self, x, state):
        h, state = self.first(x, state)
        return self.last(jnp.tanh(h)), state


def _batched(model, inputs, state):
    return jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(inputs, state)


def gan_losses(players, key, model_state):
    """The non-saturating GAN on a Gaussian, both players' states threaded: `((l0, l1), s)`."""
    (G, D), (g_state, d_state) = players, model_state
    k_data, k_z = jax.random.split(key)
    real = 1.0 + 0.5 * jax.random.normal(k_data, (BATCH, DATA))
    fake, g_state = _batched(G, jax.random.normal(k_z, (BATCH, LATENT)), g_state)
    d_real, d_state = _batched(D, real, d_state)
    d_fake, d_state = _batched(D, fake, d_state)
    softplus = jax.nn.softplus
    loss_g = softplus(-d_fake).mean()
    loss_d = softplus(-d_real).mean() + softplus(d_fake).mean()
    return (loss_g, loss_d), (g_state, d_state)


class StatefulGAN(mx.AbstractGeneralSumGame):
    def losses(self, players, args=None, key=None, *, model_state):
        return gan_losses(players, key, model_state)

    def equilibrium(self, near=None):
        raise NotImplementedError


GAME = StatefulGAN()
G, G_STATE = eqx.nn.make_with_state(Generator)(jax.random.key(0))
D, D_STATE = eqx.nn.make_with_state(Critic)(jax.random.key(1))
PLAYERS, MODEL_STATE = (G, D), (G_STATE, D_STATE)
KEY = jax.random.key(2)
ADAM = optax.adam(1e-2)


def _arrays(tree):
    return eqx.filter(tree, eqx.is_array)


def test_parity_with_a_hand_written_equinox_loop():
    """`solve` with Adam for both players equals the loop a user would write: one forward
    pass per step, the state it returns carried to the next, the StateIndex never moved."""
    steps = 12
    sol = mx.solve(
        GAME, mx.Simultaneous(ADAM), PLAYERS, steps=steps, key=KEY, model_state=MODEL_STATE
    )
    params, static = eqx.partition(PLAYERS, eqx.is_inexact_array)
    params, static_index = eqx.partition(
        params, lambda leaf: not isinstance(leaf, eqx.nn.StateIndex),
        is_leaf=lambda leaf: isinstance(leaf, eqx.nn.StateIndex),
    )  # fmt: skip
    static = eqx.combine(static, static_index)
    opt_states = tuple(ADAM.init(p) for p in params)
    state = MODEL_STATE

    @jax.jit
    def step(params, opt_states, state, key):
        def losses(p):
            return gan_losses(eqx.combine(p, static), key, state)

        (l0, l1), pull_back, new_state = jax.vjp(losses, params, has_aux=True)
        grads = (
            pull_back((jnp.ones_like(l0), jnp.zeros_like(l1)))[0][0],
            pull_back((jnp.zeros_like(l0), jnp.ones_like(l1)))[0][1],
        )
        moved = [ADAM.update(g, s, p) for g, s, p in zip(grads, opt_states, params, strict=True)]
        params = tuple(optax.apply_updates(p, u) for p, (u, _) in zip(params, moved, strict=True))
        return params, tuple(s for _, s in moved), new_state

    for t in range(steps):
        params, opt_states, state = step(params, opt_states, state, jax.random.fold_in(KEY, t))
    players = eqx.combine(params, static)
    assert tree_allclose(_arrays(sol.players), _arrays(players), atol=1e-12)
    assert tree_allclose(sol.model_state, state, atol=1e-12)
    # The state moved (BatchNorm in batch mode keeps running statistics; the power iteration
    # moves u and v).
    assert not tree_allclose(sol.model_state, MODEL_STATE, atol=1e-6)


def test_a_state_index_is_never_trained():
    """Before `make_with_state`, a SpectralNorm's StateIndex holds u and v as float arrays:
    they are not the critic's parameters."""
    raw = Critic(jax.random.key(1))
    floats = [leaf for leaf in jax.tree.leaves(raw) if eqx.is_inexact_array(leaf)]
    trained = jax.tree.leaves(mx.split_players((raw, raw))[0][0])
    assert len(trained) == len(floats) - 2 == 4  # two weights, two biases


SOLVERS = {
    "simultaneous": mx.Simultaneous(ADAM),
    "alternating": mx.Alternating(ADAM),
    "extragradient": mx.ExtraGradient(ADAM, share_state=True),
    "past extragradient": mx.PastExtraGradient(ADAM),
    "consensus": mx.ConsensusOptimization(ADAM, gamma=0.1),
    "SGA": mx.SGA(ADAM, lam=0.1),
    "CGD": mx.CGD(1e-2),
    "EMA lookahead": mx.EMA(mx.Lookahead(mx.Simultaneous(ADAM)), 0.9, players=(True, False)),
}


class _Counted(mx.AbstractGeneralSumGame):
    """A game whose model state counts the evaluations that produced it: `(n, last)`, with
    `last` the x at which the last evaluation was made."""

    def losses(self, players, args=None, key=None, *, model_state):
        x, y = players
        count, _ = model_state
        return (jnp.sum(x * y), -jnp.sum(x * y)), (count + 1, jax.lax.stop_gradient(x))

    def equilibrium(self, near=None):
        raise NotImplementedError


@pytest.mark.parametrize("name", list(SOLVERS))
def test_each_rule_returns_the_state_of_the_evaluation_that_moves_the_players(name):
    """One step from a state that counts evaluations: simultaneous, consensus, SGA, CGD and
    past extra-gradient make one evaluation (at the base point, or past extra-gradient's
    look-ahead), extra-gradient keeps its second one's (at the look-ahead), alternating
    threads the state through both moves (two evaluations)."""
    solver = SOLVERS[name]
    game, players = _Counted(), (jnp.array([1.0, 2.0]), jnp.array([0.5, -1.0]))
    state0 = (jnp.array(0), jnp.zeros(2))
    state = solver.init(game, players, model_state=state0)
    out = solver.step(game, players, state, model_state=state0)
    count, at = out.model_state
    expected = 2 if name == "alternating" else 1
    assert int(count) == expected
    if name in ("extragradient", "past extragradient"):
        assert not np.allclose(at, players[0])  # evaluated at the look-ahead
    elif name == "alternating":
        np.testing.assert_array_equal(at, out.players[0])  # y's move, at the new x
    else:
        np.testing.assert_array_equal(at, players[0])  # at the base point


def test_resume_and_checkpoint_carry_the_model_state(tmp_path):
    solver = SOLVERS["EMA lookahead"]
    run = dict(key=KEY, save_every=None)
    whole = mx.solve(GAME, solver, PLAYERS, steps=10, model_state=MODEL_STATE, **run)
    first = mx.solve(GAME, solver, PLAYERS, steps=3, model_state=MODEL_STATE, **run)
    rest = mx.solve(GAME, solver, first.players, steps=7, state=first.state, **run)
    assert tree_allclose(_arrays(rest.players), _arrays(whole.players), atol=0)
    assert tree_allclose(rest.model_state, whole.model_state, atol=0)
    assert tree_allclose(_arrays(rest.answer), _arrays(whole.answer), atol=0)
    path = tmp_path / "run.eqx"
    chunked = mx.solve(
        GAME, solver, PLAYERS, steps=10, model_state=MODEL_STATE, checkpoint=path,
        checkpoint_every=5, **run,
    )  # fmt: skip
    assert tree_allclose(chunked.model_state, whole.model_state, atol=0)
    players, state = mx.load_checkpoint(
        path, GAME, solver, PLAYERS, key=KEY, model_state_like=MODEL_STATE
    )
    assert tree_allclose(state.model_state, whole.model_state, atol=0)
    # The EMA is of the generator only; the critic answers with its iterate.
    assert tree_allclose(_arrays(whole.answer[1]), _arrays(whole.players[1]), atol=0)
    assert not tree_allclose(_arrays(whole.answer[0]), _arrays(whole.players[0]), atol=1e-6)


def test_sampling_in_inference_mode():
    """After training, the generator samples with BatchNorm's running statistics."""
    sol = mx.solve(
        GAME, mx.Simultaneous(ADAM), PLAYERS, steps=5, key=KEY, model_state=MODEL_STATE,
        save_every=None,
    )  # fmt: skip
    generator = eqx.nn.inference_mode(sol.answer[0])
    g_state = sol.model_state[0]
    one, _ = generator(jnp.ones(LATENT), g_state)
    batch, _ = jax.vmap(generator, in_axes=(0, None), out_axes=(0, None))(
        jnp.ones((4, LATENT)), g_state
    )
    np.testing.assert_allclose(batch, jnp.broadcast_to(one, batch.shape), rtol=1e-12)


def test_state_inside_the_players_is_refused():
    with pytest.raises(TypeError, match="pass it to `minimax.solve\\(..., model_state=state\\)`"):
        mx.solve(GAME, mx.Simultaneous(ADAM), (G, (D, D_STATE)), steps=1, key=KEY)
    with pytest.raises(ValueError, match="`model_state` and `state` were both given"):
        first = mx.solve(GAME, mx.Simultaneous(ADAM), PLAYERS, steps=1, key=KEY,
                         model_state=MODEL_STATE)  # fmt: skip
        mx.solve(GAME, mx.Simultaneous(ADAM), PLAYERS, steps=1, key=KEY, state=first.state,
                 model_state=MODEL_STATE)  # fmt: skip


def test_a_zero_sum_game_with_state():
    """`ZeroSumGame(fn)` with `fn(x, y, args, *, model_state) -> (f, new_state)`."""

    def fn(x, y, args, *, model_state):
        return jnp.vdot(x, y), model_state + 1

    game = mx.ZeroSumGame(fn)
    sol = mx.solve(game, mx.Simultaneous(optax.sgd(0.1)), (jnp.ones(2), jnp.ones(2)), steps=5,
                   model_state=jnp.array(0))  # fmt: skip
    assert int(sol.model_state) == 5
    f, new = game.value(jnp.ones(2), jnp.ones(2), model_state=jnp.array(3))
    assert float(f) == 2.0 and int(new) == 4
    with pytest.raises(TypeError, match="must return `\\(loss, new_model_state\\)`"):
        bad = mx.ZeroSumGame(lambda x, y, args, *, model_state: jnp.vdot(x, y))
        bad.value(jnp.ones(2), jnp.ones(2), model_state=jnp.array(0))
