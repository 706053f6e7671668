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
import optax
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
    assert not [name for name in os.listdir(tmp_path) if ".tmp-" in name]  # no orphans left


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


def test_interrupted_run_with_rows_resumes_exactly(tmp_path: Path, monkeypatch):
    """A run stopped after its first save, run again, records what one run records; each row
    is written once."""
    from minimax import _checkpoint

    path = tmp_path / "run.eqx"
    one = mx.solve(GAME, SOLVER, Z0, steps=250, save_every=10)
    write = _checkpoint.write_checkpoint

    def write_then_stop(*args, **kwargs):
        write(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(_checkpoint, "write_checkpoint", write_then_stop)
    with pytest.raises(KeyboardInterrupt):
        mx.solve(GAME, SOLVER, Z0, steps=250, save_every=10, checkpoint=path, checkpoint_every=100)
    monkeypatch.undo()
    sol = mx.solve(
        GAME, SOLVER, Z0, steps=250, save_every=10, checkpoint=path, checkpoint_every=100
    )
    assert sol.ts.tolist() == one.ts.tolist()
    assert tree_allclose((sol.players, sol.trajectory), (one.players, one.trajectory), atol=0)
    # 26 rows of 6 + 4 float64 and an int32 step, in 3 chunks (a count and a sha256 each).
    (rows,) = [p for p in tmp_path.iterdir() if p.name.startswith("run.eqx.rows-")]
    first_line = len(f"minimax-checkpoint-rows {rows.name[-16:]}\n")
    assert rows.stat().st_size == first_line + 3 * (8 + 32) + 26 * (10 * 8 + 4)


def _value(scale):
    def value(x, y, args, *, key=None):
        noise = 0.0 if key is None else 0.1 * jax.random.normal(key) * jnp.sum(x)
        return scale * jnp.dot(x, y) + args * (jnp.dot(x, x) - jnp.dot(y, y)) + noise

    return value


RUN = {
    "game": mx.ZeroSumGame(_value(1.0)),
    "solver": mx.Simultaneous(optax.sgd(0.1)),
    "players": (jnp.ones(2), jnp.zeros(2)),
    "args": 0.5,
    "key": jax.random.key(0),
    "steps": 4,
    "save_every": 1,
    "save": None,
}
OTHER_RUN = {
    "game": mx.ZeroSumGame(_value(2.0)),
    "solver": mx.Simultaneous(optax.sgd(0.2)),
    "players": (jnp.ones(2), jnp.ones(2)),
    "args": 0.25,
    "key": jax.random.key(1),
    "steps": 6,
    "save_every": 2,
    "save": lambda players, args: {"x": players[0]},
}


def _checkpointed(path, **changes):
    kw = {**RUN, **changes}
    game, solver, players = kw.pop("game"), kw.pop("solver"), kw.pop("players")
    return mx.solve(game, solver, players, checkpoint=path, checkpoint_every=2, **kw)


@pytest.mark.parametrize("item", list(OTHER_RUN))
def test_checkpoint_of_another_run_is_refused(tmp_path: Path, item):
    path = tmp_path / "run.eqx"
    first = _checkpointed(path)
    with pytest.raises(mx.CheckpointError, match=f"written by another run: `{item}`"):
        _checkpointed(path, **{item: OTHER_RUN[item]})
    again = _checkpointed(path)  # the run that wrote it still resumes (here: is done)
    assert tree_allclose(again.trajectory, first.trajectory, atol=0)


def test_checkpoint_from_save_checkpoint_is_refused(tmp_path: Path):
    path = tmp_path / "run.eqx"
    mx.save_checkpoint(path, mx.solve(GAME, SOLVER, Z0, steps=2))
    with pytest.raises(mx.CheckpointError, match="records no run: it was written by `save_ch"):
        _checkpointed(path)


def test_checkpoint_refuses_traced_values(tmp_path: Path):
    path = tmp_path / "run.eqx"

    def final(lr):
        return _checkpointed(path, solver=mx.Simultaneous(optax.sgd(lr))).players[0].sum()

    with pytest.raises(TypeError, match="`solver` holds a traced value.*`jax.vmap`"):
        jax.vmap(final)(jnp.array([0.1, 0.2]))
    with pytest.raises(TypeError, match="`players` holds a traced value"):
        jax.grad(lambda x: _checkpointed(path, players=(x, x)).players[0].sum())(jnp.ones(2))
    with pytest.raises(TypeError, match="`args` holds a traced value"):
        jax.jit(lambda a: _checkpointed(path, args=a).players[0])(0.5)
    assert os.listdir(tmp_path) == []


def test_unwritable_folder_is_refused_before_computing(tmp_path: Path, monkeypatch):
    import minimax._solve

    os_open = os.open

    def refuse_new_files(path, flags, *args, **kwargs):
        if flags & os.O_CREAT:
            raise PermissionError(13, "Permission denied")
        return os_open(path, flags, *args, **kwargs)

    def no_computing(*args, **kwargs):
        raise AssertionError("computed before checking the folder")

    monkeypatch.setattr(os, "open", refuse_new_files)
    monkeypatch.setattr(minimax._solve, "_solve", no_computing)
    with pytest.raises(PermissionError, match="`checkpoint` .*cannot write in the folder"):
        _checkpointed(tmp_path / "run.eqx")


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_checkpoint_through_a_symlink(tmp_path: Path):
    (tmp_path / "store").mkdir()
    link = tmp_path / "run.eqx"
    link.symlink_to(tmp_path / "store" / "run.eqx")
    first = _checkpointed(link)
    assert link.is_symlink() and (tmp_path / "store" / "run.eqx").is_file()
    assert tree_allclose(_checkpointed(link).players, first.players, atol=0)


def test_numpy_float64_players_with_x64_off(tmp_path: Path):
    """JAX makes float32 of NumPy float64 players when x64 is off; so does the checkpoint, and a
    finished run read back must not ask for float64."""
    path = tmp_path / "run.eqx"
    game, solver = RUN["game"], RUN["solver"]
    players = (np.ones(2), np.zeros(2))
    with jax.enable_x64(False):
        first = _checkpointed(path, players=players, key=None)
        again = _checkpointed(path, players=players, key=None)
        assert again.players[0].dtype == jnp.float32
        assert tree_allclose((again.players, again.trajectory), (first.players, first.trajectory))
        loaded, _ = mx.load_checkpoint(path, game, solver, players, args=0.5)
        assert tree_allclose(loaded, first.players, atol=0)
    with pytest.raises(mx.CheckpointError, match="32-bit values where `players_like` has 64-bit"):
        mx.load_checkpoint(path, game, solver, players, args=0.5)
    wide = tmp_path / "wide.eqx"
    mx.save_checkpoint(wide, mx.solve(game, solver, players, steps=1, args=0.5))
    refused = pytest.raises(mx.CheckpointError, match="written with `jax_enable_x64` on; turn it")
    with jax.enable_x64(False), refused:
        mx.load_checkpoint(wide, game, solver, players, args=0.5)
