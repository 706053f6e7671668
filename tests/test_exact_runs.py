"""A run split anywhere computes the bits of one uninterrupted call: resumed at any step,
recorded with any `save_every`, with or without a progress bar, in checkpointed chunks; on a
chaotic GAN (where one ulp grows to O(1)) and for every rule of the solver table. And runs that
end when they are done."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import games
import minimax as mx
from minimax._solve import _WHOLE_FROM

from .helpers import games_table, solvers_table, start, tree_allclose

GAN = games.MixtureGAN(batch_size=32)
GAN_PLAYERS = GAN.init_players(jax.random.key(0), width=8, depth=1, dtype=jnp.float32)
KEY = jax.random.key(1)
ADAM = optax.adam(1e-2, b1=0.5, b2=0.9)
GAN_SOLVERS = {
    "optimistic Adam": mx.Simultaneous(mx.optimistic_adam(1e-2, b1=0.5, b2=0.9)),
    "Extra-Adam": mx.ExtraGradient(ADAM, share_state=True),
    "EMA lookahead alternating": mx.EMA(
        mx.Lookahead(mx.Alternating(ADAM), sync_period=3), 0.9, players=(True, False)
    ),
}


def _bits(tree):
    return [np.asarray(a) for a in jax.tree.leaves(eqx.filter(tree, eqx.is_array))]


def _same(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(_bits(a), _bits(b), strict=True))


def _nudged(players):
    return jax.tree.map(
        lambda a: jnp.nextafter(a, jnp.inf) if eqx.is_inexact_array(a) else a, players
    )


@pytest.mark.parametrize("name", list(GAN_SOLVERS))
def test_a_gan_split_anywhere_is_one_run(name, tmp_path):
    solver, steps = GAN_SOLVERS[name], 100
    run = dict(key=KEY, save_every=None)
    whole = mx.solve(GAN, solver, GAN_PLAYERS, steps=steps, **run)
    # The run is chaotic: a start one ulp away ends far away.
    other = mx.solve(GAN, solver, _nudged(GAN_PLAYERS), steps=steps, **run)
    assert not _same(other.players, whole.players)

    first = mx.solve(GAN, solver, GAN_PLAYERS, steps=37, **run)
    rest = mx.solve(GAN, solver, first.players, steps=steps - 37, state=first.state, **run)
    recorded = mx.solve(GAN, solver, GAN_PLAYERS, steps=steps, key=KEY, save_every=9, progress=True)
    chunked = mx.solve(
        GAN, solver, GAN_PLAYERS, steps=steps, checkpoint=tmp_path / "run.eqx",
        checkpoint_every=50, **run,
    )  # fmt: skip
    for sol in (rest, recorded, chunked):
        assert _same(sol.players, whole.players)
        assert _same(sol.answer, whole.answer)
        assert _same(sol.state, whole.state)
    # The recording holds the answer at steps 0, 9, ..., 99 and 100.
    assert recorded.ts.tolist() == [*range(0, steps, 9), steps]
    last = jax.tree.map(lambda a: a[-1], eqx.filter(recorded.trajectory, eqx.is_array))
    assert _same(last, whole.answer)


# Long enough for whole blocks, which an uninterrupted run takes in another loop than the
# partial blocks of a split run: the two must compute the same bits.
HALF = _WHOLE_FROM + 26


def test_whole_blocks_compute_the_bits_of_partial_ones():
    gan = games.MixtureGAN(batch_size=8)  # small, for a long run, and still chaotic
    players = gan.init_players(jax.random.key(0), width=4, depth=1, dtype=jnp.float32)
    solver, run = GAN_SOLVERS["optimistic Adam"], dict(key=KEY, save_every=None)
    whole = mx.solve(gan, solver, players, steps=2 * HALF, **run)
    first = mx.solve(gan, solver, players, steps=HALF, **run)
    rest = mx.solve(gan, solver, first.players, steps=HALF, state=first.state, **run)
    assert _same(rest.players, whole.players) and _same(rest.state, whole.state)
    other = mx.solve(gan, solver, _nudged(players), steps=HALF, **run)
    assert not _same(other.players, first.players)


GAME = games_table()["quadratic"]
Z0 = start(GAME)
# Every rule, and every wrapper (uniform averaging too, which the convergence table leaves out:
# its O(1/t) is not the table's linear rate).
TABLE = {
    **solvers_table(0.1),
    "averaged alternating": (mx.Averaging(mx.Alternating(optax.sgd(0.1))), set()),
}


@pytest.mark.parametrize("name", list(TABLE))
def test_every_rule_resumes_mid_block_and_vmaps(name):
    solver, _ = TABLE[name]
    whole = mx.solve(GAME, solver, Z0, steps=150, save_every=None)
    first = mx.solve(GAME, solver, Z0, steps=75, save_every=None)  # 75: not a block boundary
    rest = mx.solve(GAME, solver, first.players, steps=75, state=first.state, save_every=None)
    assert _same(rest.players, whole.players) and _same(rest.state, whole.state)
    assert _same(rest.answer, whole.answer)
    # A batch of starts is a batch of runs.
    starts = jax.tree.map(lambda a: jnp.stack([a, 2 * a]), Z0)
    batch = jax.vmap(lambda z: mx.solve(GAME, solver, z, steps=150, save_every=None).answer)(starts)
    assert tree_allclose(jax.tree.map(lambda a: a[0], batch), whole.answer, atol=1e-12)


# Runs that end when they are done


MATRIX = games.MatrixGame.rock_paper_scissors()
UNIFORM = (jnp.array([0.6, 0.3, 0.1]), jnp.array([0.2, 0.3, 0.5]))
PROJECTED = mx.Simultaneous(mx.optimistic_gradient(0.2))


def _gap_below(tol):
    return lambda players, args: MATRIX.duality_gap(players) < tol


def test_stop_ends_a_run_at_a_block_boundary():
    sol = mx.solve(MATRIX, PROJECTED, UNIFORM, steps=10_000, stop=_gap_below(1e-6))
    steps = int(sol.stats["steps"])
    assert sol.result == mx.RESULTS.successful and 0 < steps < 10_000 and steps % 64 == 0
    assert float(MATRIX.duality_gap(sol.answer)) < 1e-6
    assert int(sol.ts[np.argmax(np.asarray(sol.ts))]) == steps  # the last row is the final step
    # The same stop, however the run is split.
    first = mx.solve(MATRIX, PROJECTED, UNIFORM, steps=100, stop=_gap_below(1e-6))
    rest = mx.solve(
        MATRIX, PROJECTED, first.players, state=first.state, steps=9_900, stop=_gap_below(1e-6)
    )
    assert int(rest.state.step) == steps and _same(rest.players, sol.players)
    # Under vmap, each member stops at its own step.
    tols = jnp.array([1e-3, 1e-6])
    batch = jax.vmap(
        lambda tol: mx.solve(
            MATRIX, PROJECTED, UNIFORM, steps=10_000, save_every=None,
            stop=lambda players, args: MATRIX.duality_gap(players) < tol,
        ).stats["steps"]
    )(tols)  # fmt: skip
    assert int(batch[0]) < int(batch[1]) == steps


class _Tolerance(mx.AbstractSolver):
    """Gradient descent on f = x^2 that says it is done below `tol`, and that it did not meet
    it otherwise."""

    tol: float

    def init(self, game, players, args=None, key=None, *, model_state=None):
        return None

    def step(self, game, players, state, args=None, key=None, *, model_state=None):
        x, y = players
        return mx.Step((0.9 * x, y), state, stats={"evaluations": jnp.array(1)})

    def terminate(self, game, players, state, args=None):
        done = jnp.abs(players[0]) < self.tol
        return done, mx.RESULTS.where(done, mx.RESULTS.successful, mx.RESULTS.tolerance_not_reached)


def test_a_solver_may_terminate_and_report():
    game = mx.ZeroSumGame(lambda x, y, args: x**2 + 0 * y)
    z0 = (jnp.array(1.0), jnp.array(0.0))
    sol = mx.solve(game, _Tolerance(1e-3), z0, steps=1000)
    assert sol.result == mx.RESULTS.successful and int(sol.stats["steps"]) == 128
    assert int(sol.stats["evaluations"]) == 128
    short = mx.solve(game, _Tolerance(1e-3), z0, steps=50, throw=False)
    assert short.result == mx.RESULTS.tolerance_not_reached
    assert int(short.stats["steps"]) == 50 and int(short.stats["failed_step"]) == -1
    with pytest.raises(RuntimeError, match="without meeting the solver's tolerance"):
        mx.solve(game, _Tolerance(1e-3), z0, steps=50)


def test_stop_must_return_a_boolean_scalar():
    with pytest.raises(TypeError, match="`stop` must return a boolean scalar"):
        mx.solve(MATRIX, PROJECTED, UNIFORM, steps=10, stop=lambda players, args: players[0])
    with pytest.raises(TypeError, match="`stop` must be callable, got float"):
        mx.solve(MATRIX, PROJECTED, UNIFORM, steps=10, stop=1e-6)
