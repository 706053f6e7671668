"""Long runs: a process killed at any moment and run again finishes bit-identical to one
uninterrupted run; checkpointed runs record what one run records."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import minimax as mx

from .helpers import games_table, start, tree_allclose

GAME = games_table()["quadratic"]
SOLVER = mx.Simultaneous(mx.optimistic_adam(0.01))
Z0 = start(GAME)

# A stochastic run with optimistic Adam (counts, moments, previous direction in the state):
# about 2 s of steps between start-up and the end, saved every 20 000 steps.
SCRIPT = """
import sys, jax, jax.numpy as jnp, numpy as np, minimax as mx
A = jax.random.normal(jax.random.key(0), (4, 4))

def f(x, y, args, *, key):
    return x @ A @ y + 0.5 * (x @ x - y @ y) + 0.1 * jax.random.normal(key, x.shape) @ x

game = mx.ZeroSumGame(f)
solver = mx.Simultaneous(mx.optimistic_adam(1e-3))
sol = mx.solve(game, solver, (jnp.ones(4), jnp.ones(4)), steps=1_000_000, save_every=None,
               key=jax.random.key(1), checkpoint=sys.argv[1], checkpoint_every=20_000)
np.save(sys.argv[2], np.concatenate([np.asarray(p) for p in sol.players]))
"""


def _run(*argv, **kwargs):
    return subprocess.Popen([sys.executable, "-c", SCRIPT, *map(str, argv)], **kwargs)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_killed_run_resumes_bit_exactly(tmp_path: Path):
    killed, whole = tmp_path / "killed.eqx", tmp_path / "whole.eqx"
    uninterrupted = _run(whole, tmp_path / "whole.npy")
    victim = _run(killed, tmp_path / "unused.npy")
    deadline = time.monotonic() + 120
    while not killed.exists() and time.monotonic() < deadline:  # at least one save, then kill
        time.sleep(0.02)
    time.sleep(0.3)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert not (tmp_path / "unused.npy").exists(), "the run finished before it could be killed"
    resumed = _run(killed, tmp_path / "resumed.npy")
    assert resumed.wait(timeout=300) == 0 and uninterrupted.wait(timeout=300) == 0
    a, b = np.load(tmp_path / "resumed.npy"), np.load(tmp_path / "whole.npy")
    assert a.tobytes() == b.tobytes()


def test_checkpointed_run_records_what_one_run_records(tmp_path: Path):
    path = tmp_path / "run.eqx"
    one = mx.solve(GAME, SOLVER, Z0, steps=250, save_every=10)
    first = mx.solve(GAME, SOLVER, Z0, steps=250, save_every=10, checkpoint=path,
                     checkpoint_every=100)  # fmt: skip
    again = mx.solve(
        GAME, SOLVER, Z0, steps=250, save_every=10, checkpoint=path, checkpoint_every=100
    )  # fmt: skip: nothing left to do
    for sol in (first, again):
        assert sol.ts.tolist() == one.ts.tolist()
        assert tree_allclose((sol.players, sol.trajectory), (one.players, one.trajectory), atol=0)
    players, state = mx.load_checkpoint(path, GAME, SOLVER, Z0)
    assert tree_allclose((players, state), (one.players, one.state), atol=0)


def test_checkpoint_arguments(tmp_path: Path):
    path = tmp_path / "run.eqx"
    with pytest.raises(ValueError, match="`checkpoint` needs `checkpoint_every`"):
        mx.solve(GAME, SOLVER, Z0, steps=10, checkpoint=path)
    with pytest.raises(ValueError, match="`checkpoint_every` needs `checkpoint`"):
        mx.solve(GAME, SOLVER, Z0, steps=10, checkpoint_every=5)
    with pytest.raises(ValueError, match=r"`checkpoint_every` \(15\) must be a multiple"):
        mx.solve(GAME, SOLVER, Z0, steps=30, save_every=10, checkpoint=path, checkpoint_every=15)
    mx.solve(GAME, SOLVER, Z0, steps=30, save_every=None, checkpoint=path, checkpoint_every=10)
    with pytest.raises(ValueError, match=r"another run: `steps` \(30 in the file, 20 now\)"):
        mx.solve(GAME, SOLVER, Z0, steps=20, save_every=None, checkpoint=path, checkpoint_every=10)
    other = mx.Simultaneous(mx.optimistic_gradient(0.1))
    with pytest.raises(ValueError, match="another run: `solver`"):
        mx.solve(GAME, other, Z0, steps=30, save_every=None, checkpoint=path, checkpoint_every=10)
    with pytest.raises(Exception, match="path"):
        mx.save_checkpoint(tmp_path / "missing" / "run.eqx", mx.solve(GAME, SOLVER, Z0, steps=2))


def test_failed_checkpointed_run_keeps_last_good_point(tmp_path: Path):
    import optax

    diverging = mx.Simultaneous(optax.sgd(100.0))
    one = mx.solve(GAME, diverging, Z0, steps=400, save_every=None, throw=False)
    path = tmp_path / "run.eqx"
    sol = mx.solve(GAME, diverging, Z0, steps=400, save_every=None, throw=False,
                   checkpoint=path, checkpoint_every=50)  # fmt: skip
    assert sol.result == mx.RESULTS.nonfinite
    assert int(sol.stats["failed_step"]) == int(one.stats["failed_step"])
    assert tree_allclose(sol.players, one.players, atol=0)
    players, _ = mx.load_checkpoint(path, GAME, diverging, Z0)
    assert all(bool(jnp.isfinite(p).all()) for p in jax.tree.leaves(players))
    assert os.listdir(tmp_path) == ["run.eqx"]  # no temporary files left behind
