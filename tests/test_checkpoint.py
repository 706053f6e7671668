"""Checkpoints: bit-exact round trips, every way a file can be wrong, atomic writes."""

import json
import os
import signal
import struct
import subprocess
import sys
import textwrap

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import minimax as mx
import minimax._solve
from minimax import _checkpoint
from minimax._checkpoint import CheckpointError, read_checkpoint, write_checkpoint


class Box(eqx.Module):
    value: jax.Array


class OtherBox(eqx.Module):
    value: jax.Array


class WithFunction(eqx.Module):
    fn: object = eqx.field(static=True)
    value: jax.Array


def _make_function(scale):
    return lambda x: scale * x


def _tree(seed=0, activation=jax.nn.tanh):
    """A nested PyTree with every kind of leaf a run holds; values with awkward bits."""
    rng = np.random.default_rng(seed)
    specials = np.array([np.nan, -0.0, np.inf, -np.inf, 5e-324, 1e308], np.float64)
    mlp = eqx.nn.MLP(2, 1, 4, 1, activation=activation, key=jax.random.key(seed))
    return {
        "players": (
            mlp,
            {"w": jnp.asarray(rng.standard_normal(5)), "specials": jnp.asarray(specials)},
        ),
        "f32": jnp.asarray(rng.standard_normal((2, 3)), jnp.float32),
        "bf16": jnp.asarray(rng.standard_normal(3), jnp.bfloat16),
        "ints": (jnp.array(seed + 3, jnp.int32), jnp.arange(4, dtype=jnp.int64) - seed),
        "key": jax.random.split(jax.random.key(seed + 1), 2),
        "old_key": jax.random.PRNGKey(seed + 2),
        "numpy": rng.standard_normal(3),
        "box": Box(jnp.asarray(rng.standard_normal(2))),
        "count": 7 + seed,  # not an array: not saved, taken from the template
    }


def _bits(x):
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        return str(x.dtype), jax.random.key_impl(x), np.asarray(jax.random.key_data(x)).tobytes()
    return str(x.dtype), np.shape(x), np.asarray(x).tobytes()


def _assert_bit_equal(a, b):
    a, b = eqx.filter(a, eqx.is_array), eqx.filter(b, eqx.is_array)
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert _bits(x) == _bits(y)


@pytest.fixture
def saved(tmp_path):
    """A checkpoint with two entries, and the tree written as entry "a"."""
    path = tmp_path / "run.eqx"
    tree = _tree()
    write_checkpoint(path, {"a": tree, "b": jnp.ones(3)})
    return path, tree


def _layout(path):
    """The byte ranges of a file: (first line + length field, header, payload)."""
    data = path.read_bytes()
    start = data.index(b"\n") + 1 + 8
    (length,) = struct.unpack_from("<Q", data, start - 8)
    return data, start, start + length


# Round trips


@pytest.mark.parametrize("template", ["arrays", "shapes"])
def test_round_trip_is_bit_exact(saved, template):
    path, tree = saved
    like = _tree(seed=1)  # other values, same structure
    if template == "shapes":
        like = eqx.filter_eval_shape(lambda: like)
    out = read_checkpoint(path, {"a": like})
    assert list(out) == ["a"]
    _assert_bit_equal(out["a"], tree)
    assert isinstance(out["a"]["f32"], jax.Array)
    assert isinstance(out["a"]["numpy"], np.ndarray if template == "arrays" else jax.Array)
    assert isinstance(out["a"]["box"], Box)


def test_non_array_leaves_come_from_the_template(saved):
    path, tree = saved
    like = _tree(seed=1, activation=jax.nn.relu)
    out = read_checkpoint(path, {"a": like})["a"]
    mlp = out["players"][0]
    assert mlp.activation is jax.nn.relu and tree["players"][0].activation is jax.nn.tanh
    assert out["count"] == 8
    expected = eqx.tree_at(lambda m: m.activation, tree["players"][0], jax.nn.relu)
    np.testing.assert_array_equal(mlp(jnp.ones(2)), expected(jnp.ones(2)))


def test_static_functions_match_across_processes(tmp_path):
    # A static field's function prints with its address, which differs in a new process (here:
    # another closure of the same code); the structure is the same.
    path = tmp_path / "run.eqx"
    written = WithFunction(_make_function(2.0), jnp.arange(3.0))
    write_checkpoint(path, {"a": written})
    fn = _make_function(3.0)  # `written.fn` is alive: `fn` lives at another address
    out = read_checkpoint(path, {"a": WithFunction(fn, jnp.zeros(3))})["a"]
    assert out.fn is fn and out.value.tolist() == [0.0, 1.0, 2.0]
    assert written.fn is not fn


def test_reads_only_the_named_entries(saved):
    path, _ = saved
    out = read_checkpoint(path, {"b": jnp.zeros(3)})
    assert list(out) == ["b"] and out["b"].tolist() == [1.0, 1.0, 1.0]
    assert read_checkpoint(path, {}) == {}


def test_header_describes_the_entries(saved):
    path, _ = saved
    data, start, end = _layout(path)
    assert data.startswith(b"minimax-checkpoint 2\n")
    header = json.loads(data[start:end])
    assert header["format"] == 2 and header["minimax_version"] == mx.__version__
    assert header["payload_length"] == len(data) - end
    assert header["fingerprint"] is None and header["rows"] is None
    entry = header["entries"]["a"]
    leaves = {leaf["path"]: leaf for leaf in entry["leaves"]}
    assert leaves["['f32']"]["shape"] == [2, 3] and leaves["['f32']"]["dtype"] == "float32"
    assert leaves["['f32']"]["nbytes"] == 2 * 3 * 4
    assert leaves["['key']"]["key_impl"] == "threefry2x32"
    assert "MLP" in entry["treedef"]
    # The leaves lie one after the other, entry "b" after entry "a".
    last = entry["leaves"][-1]
    assert header["entries"]["b"]["leaves"][0]["offset"] == last["offset"] + last["nbytes"]


def test_rewrite_replaces_the_file(saved):
    path, _ = saved
    write_checkpoint(path, {"b": jnp.full(3, 2.0)})
    assert read_checkpoint(path, {"b": jnp.zeros(3)})["b"].tolist() == [2.0, 2.0, 2.0]
    assert os.listdir(path.parent) == [path.name]


# Files that are not checkpoints, or damaged ones


@pytest.mark.parametrize(
    "content",
    [b"hello world\n" + bytes(100), bytes(range(256)), b"\x93NUMPY\x01\x00" + bytes(200)],
)
def test_not_a_checkpoint(tmp_path, content):
    path = tmp_path / "other.bin"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a minimax checkpoint") as e:
        read_checkpoint(path, {"a": jnp.zeros(3)})
    assert str(path) in str(e.value)


def test_unknown_format_version(saved):
    path, _ = saved
    path.write_bytes(
        path.read_bytes().replace(b"minimax-checkpoint 2\n", b"minimax-checkpoint 3\n")
    )
    with pytest.raises(CheckpointError, match="format version '3'.*reads format 2"):
        read_checkpoint(path, {"b": jnp.zeros(3)})


@pytest.mark.parametrize("where", ["empty", "first line", "length", "header", "payload", "last"])
def test_truncated(saved, where):
    path, _ = saved
    data, start, end = _layout(path)
    cut = {
        "empty": 0,
        "first line": 10,
        "length": start - 3,
        "header": (start + end) // 2,
        "payload": (end + len(data)) // 2,
        "last": len(data) - 1,
    }[where]
    path.write_bytes(data[:cut])
    with pytest.raises(CheckpointError, match="the file is truncated") as e:
        read_checkpoint(path, {"b": jnp.zeros(3)})
    assert str(path) in str(e.value)


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_corrupted_payload(saved, where):
    path, _ = saved
    data, _, end = _layout(path)
    index = {"first": end, "middle": (end + len(data)) // 2, "last": len(data) - 1}[where]
    data = bytearray(data)
    data[index] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="payload is corrupted: its sha256 checksum"):
        read_checkpoint(path, {"b": jnp.zeros(3)})


def test_corrupted_header_and_trailing_bytes(saved):
    path, _ = saved
    data = path.read_bytes()
    path.write_bytes(data.replace(b'"entries"', b'"entriez"'))
    with pytest.raises(CheckpointError, match="header is corrupted"):
        read_checkpoint(path, {"b": jnp.zeros(3)})
    path.write_bytes(data + b"\x00")
    with pytest.raises(CheckpointError, match="1 bytes follow the payload"):
        read_checkpoint(path, {"b": jnp.zeros(3)})


def test_missing_entry(saved):
    path, _ = saved
    with pytest.raises(CheckpointError, match=r"no entry 'state'; the file holds \['a', 'b'\]"):
        read_checkpoint(path, {"b": jnp.zeros(3), "state": jnp.zeros(3)})


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="`path`.*no such checkpoint"):
        read_checkpoint(tmp_path / "absent.eqx", {"a": jnp.zeros(3)})
    with pytest.raises(FileNotFoundError, match="`path`.*does not exist"):
        write_checkpoint(tmp_path / "absent" / "run.eqx", {"a": jnp.zeros(3)})
    with pytest.raises(IsADirectoryError, match="`path`"):
        write_checkpoint(tmp_path, {"a": jnp.zeros(3)})


# Files that do not fit the template


def test_other_structure(saved):
    path, _ = saved
    like = {**_tree(), "extra": jnp.zeros(2)}
    with pytest.raises(
        CheckpointError, match="does not have the structure the template needs"
    ) as e:
        read_checkpoint(path, {"a": like}, hints={"a": "`players_like`"})
    message = str(e.value)
    assert "only in the template: [\"['extra']\"]" in message
    assert "The file holds:" in message and "The template needs:" in message
    assert "Check `players_like`" in message


def test_other_class_with_the_same_paths(saved):
    # The leaf paths agree (['box'].value); the tree structure does not.
    path, _ = saved
    like = {**_tree(), "box": OtherBox(jnp.zeros(2))}
    with pytest.raises(
        CheckpointError, match="does not have the structure the template needs"
    ) as e:
        read_checkpoint(path, {"a": like})
    assert "OtherBox" in str(e.value) and "Check `like['a']`" in str(e.value)


def test_other_shape(saved):
    path, _ = saved
    like = _tree()
    like["players"][1]["w"] = jnp.zeros(6)
    with pytest.raises(
        CheckpointError, match="has array leaves that differ from the template"
    ) as e:
        read_checkpoint(path, {"a": like}, hints={"a": "`solver`"})
    assert "a['players'][1]['w']: the file holds shape (5,) dtype float64" in str(e.value)
    assert "needs shape (6,) dtype float64" in str(e.value)
    assert "Check `solver`" in str(e.value)


def test_other_dtype(saved):
    path, _ = saved
    like = {**_tree(), "f32": jnp.zeros((2, 3), jnp.float64)}
    with pytest.raises(
        CheckpointError, match="has array leaves that differ from the template"
    ) as e:
        read_checkpoint(path, {"a": like})
    assert "a['f32']: the file holds shape (2, 3) dtype float32" in str(e.value)
    assert "needs shape (2, 3) dtype float64" in str(e.value)


def test_other_key_kind(saved):
    path, _ = saved
    like = {**_tree(), "key": jax.random.split(jax.random.key(0, impl="rbg"), 2)}
    with pytest.raises(CheckpointError, match=r"a\['key'\].*key<fry>.*key<rbg>"):
        read_checkpoint(path, {"a": like})


def test_write_refuses_what_it_cannot_store(tmp_path):
    path = tmp_path / "run.eqx"
    with pytest.raises(TypeError, match="`entries`"):
        write_checkpoint(path, {})
    with pytest.raises(TypeError, match=r"entries\['a'\]\[0\].*ShapeDtypeStruct"):
        write_checkpoint(path, {"a": [jax.ShapeDtypeStruct((2,), jnp.float32)]})
    with pytest.raises(TypeError, match="traced"):
        jax.jit(lambda x: write_checkpoint(path, {"a": x}))(jnp.zeros(2))
    assert os.listdir(tmp_path) == []


# Atomic writes


class _Failure(Exception):
    pass


def _fail(*args, **kwargs):
    raise _Failure


@pytest.mark.parametrize("where", ["serialise", "write", "fsync", "replace"])
def test_failed_write_keeps_the_last_checkpoint(saved, monkeypatch, where):
    path, tree = saved
    before = path.read_bytes()
    if where == "serialise":
        monkeypatch.setattr(_checkpoint, "_raw_bytes", _fail)
    elif where == "write":
        fdopen = os.fdopen

        class HalfWrite:
            """A file that writes half of what it is given, then fails (a full disk)."""

            def __init__(self, *args, **kwargs):
                self.file = fdopen(*args, **kwargs)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.file.close()

            def write(self, data):
                self.file.write(data[: len(data) // 2])
                self.file.flush()
                raise _Failure

        monkeypatch.setattr(os, "fdopen", HalfWrite)
    else:
        monkeypatch.setattr(os, where, _fail)
    with pytest.raises(_Failure):
        write_checkpoint(path, {"a": _tree(seed=1), "b": jnp.zeros(3)})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]  # no temporary file left behind
    _assert_bit_equal(read_checkpoint(path, {"a": _tree(seed=1)})["a"], tree)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_killed_write_keeps_the_last_checkpoint(tmp_path):
    # A process killed after writing the new file, before renaming it: the old checkpoint stays.
    path = tmp_path / "run.eqx"
    write_checkpoint(path, {"b": jnp.ones(3)})
    before = path.read_bytes()
    script = textwrap.dedent(
        f"""
        import os, signal
        import numpy as np
        from minimax._checkpoint import write_checkpoint
        os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)
        write_checkpoint({str(path)!r}, {{"b": np.zeros(3)}})
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    assert path.read_bytes() == before
    assert read_checkpoint(path, {"b": jnp.zeros(3)})["b"].tolist() == [1.0, 1.0, 1.0]
    # The killed save's temporary file is left; the next save removes it.
    (orphan,) = [name for name in os.listdir(tmp_path) if name != path.name]
    assert orphan.startswith(".run.eqx.tmp-")
    write_checkpoint(path, {"b": jnp.ones(3)})
    assert os.listdir(tmp_path) == [path.name]


# The public wrappers, over a real run

needs_initial_state = pytest.mark.skipif(
    not hasattr(minimax._solve, "initial_state"), reason="minimax._solve.initial_state not there"
)


@pytest.fixture(scope="module")
def run():
    game = mx.ZeroSumGame(lambda x, y, args: jnp.dot(x, y) + 0.1 * jnp.dot(x, x))
    solver = mx.Simultaneous(mx.optimistic_gradient(0.1))
    players = (jnp.array([1.0, -0.5]), jnp.array([0.3, 0.2]))
    return game, solver, players, mx.solve(game, solver, players, steps=5)


@needs_initial_state
def test_save_and_load(run, tmp_path):
    game, solver, players, sol = run
    path = tmp_path / "run.eqx"
    _checkpoint.save_checkpoint(path, sol)
    loaded_players, state = _checkpoint.load_checkpoint(path, game, solver, players)
    assert isinstance(loaded_players, tuple)
    _assert_bit_equal(loaded_players, sol.players)
    _assert_bit_equal(state, sol.state)
    assert jax.tree.structure(state) == jax.tree.structure(sol.state)
    # Resuming from the file is resuming from the run.
    direct = mx.solve(game, solver, sol.players, state=sol.state, steps=5)
    resumed = mx.solve(game, solver, loaded_players, state=state, steps=5)
    _assert_bit_equal((resumed.players, resumed.state), (direct.players, direct.state))


@needs_initial_state
def test_load_with_another_solver_or_players(run, tmp_path):
    game, solver, players, sol = run
    path = tmp_path / "run.eqx"
    _checkpoint.save_checkpoint(path, sol)
    for other in (
        mx.Alternating(mx.optimistic_gradient(0.1)),
        mx.Simultaneous(mx.optimistic_adam(0.1)),
    ):
        with pytest.raises(
            CheckpointError, match="(?s)entry 'state' does not have the structure.*Check `solver`"
        ):
            _checkpoint.load_checkpoint(path, game, other, players)
    wider = (jnp.zeros(3), players[1])
    with pytest.raises(CheckpointError, match=r"(?s)players\[0\].*\(2,\).*\(3,\).*`players_like`"):
        _checkpoint.load_checkpoint(path, game, solver, wider)
    with pytest.raises(TypeError, match="`sol`"):
        _checkpoint.save_checkpoint(path, sol.players)


# Stale temporary files


def _dead_pid():
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], stdout=-1)
    return int(done.stdout)


def test_stale_temporary_files_are_removed(saved):
    path, _ = saved
    folder = path.parent
    stale = folder / f".run.eqx.tmp-{_dead_pid()}-0a1b2c3d"
    live = folder / f".run.eqx.tmp-{os.getppid()}-0a1b2c3d"  # a process still writing
    others = [folder / ".other.eqx.tmp-1-0a1b2c3d", folder / "run.eqx.bak", folder / "run.eqx.rows"]
    for file in (stale, live, *others):
        file.write_bytes(b"x")
    write_checkpoint(path, {"b": jnp.zeros(3)})
    assert not stale.exists() and live.exists() and all(file.exists() for file in others)
    # A run that only reads the finished file removes them too, before any computing.
    stale.write_bytes(b"x")
    assert _checkpoint.prepare_checkpoint(path) == str(path)
    assert not stale.exists()


# Rows: appended, never rewritten

ROW = {"x": jnp.zeros(3, jnp.float32), "key": jax.random.key(0)}


def _rows(start, n):
    return {
        "x": jnp.arange(start * 3, (start + n) * 3, dtype=jnp.float32).reshape(n, 3) * 0.1,
        "key": jax.random.split(jax.random.key(start), n),
    }


def _rows_file(path):
    (name,) = [p for p in os.listdir(path.parent) if p.startswith(f"{path.name}.rows-")]
    return path.parent / name


def _concat(*trees):
    def join(*leaves):
        if jax.dtypes.issubdtype(leaves[0].dtype, jax.dtypes.prng_key):
            return jax.random.wrap_key_data(
                jnp.concatenate([jax.random.key_data(k) for k in leaves])
            )
        return jnp.concatenate(leaves)

    return jax.tree.map(join, *trees)


def test_rows_are_appended_and_read_back_bit_exactly(tmp_path):
    path = tmp_path / "run.eqx"
    fingerprint = {"steps": "10", "solver": "sha256:0123456789abcdef"}
    entries = {"players": jnp.ones(4)}
    write_checkpoint(path, entries, fingerprint=fingerprint, rows={"rows": _rows(0, 3)})
    rows_file = _rows_file(path)
    size, first_size = rows_file.stat().st_size, path.stat().st_size
    write_checkpoint(
        path, entries, fingerprint=fingerprint, rows={"rows": _rows(3, 5)}, append=True
    )
    # Only the new rows were written: 5 rows of 3 float32 and a key, plus a count and a sha256.
    assert rows_file.stat().st_size == size + 8 + 5 * (3 * 4 + 2 * 4) + 32
    assert path.stat().st_size == first_size  # the checkpoint itself does not grow
    out = read_checkpoint(path, {"rows": ROW, "players": jnp.zeros(4)}, fingerprint=fingerprint)
    _assert_bit_equal(out["rows"], _concat(_rows(0, 3), _rows(3, 5)))
    _assert_bit_equal(out["players"], jnp.ones(4))
    numpy_like = {"x": np.zeros(3, np.float32), "key": ROW["key"]}
    assert isinstance(read_checkpoint(path, {"rows": numpy_like})["rows"]["x"], np.ndarray)
    # A fresh (not appended) write starts a new rows file and removes the old one.
    write_checkpoint(path, entries, fingerprint=fingerprint, rows={"rows": _rows(8, 1)})
    assert _rows_file(path) != rows_file and not rows_file.exists()
    _assert_bit_equal(read_checkpoint(path, {"rows": ROW})["rows"], _rows(8, 1))
    write_checkpoint(path, entries)  # no rows: no rows file
    assert os.listdir(tmp_path) == ["run.eqx"]


def test_append_refuses_another_run(tmp_path):
    path = tmp_path / "run.eqx"
    write_checkpoint(path, {"a": jnp.ones(2)}, fingerprint={"steps": "1"}, rows={"r": _rows(0, 2)})
    with pytest.raises(CheckpointError, match="no rows of this run"):
        write_checkpoint(
            path,
            {"a": jnp.ones(2)},
            fingerprint={"steps": "2"},
            rows={"r": _rows(2, 1)},
            append=True,
        )
    with pytest.raises(CheckpointError, match="rows differ"):
        other = {"r": {"x": jnp.ones((1, 2))}}
        write_checkpoint(
            path, {"a": jnp.ones(2)}, fingerprint={"steps": "1"}, rows=other, append=True
        )
    with pytest.raises(TypeError, match="`append=True` needs `rows`"):
        write_checkpoint(path, {"a": jnp.ones(2)}, append=True)
    with pytest.raises(CheckpointError, match="no checkpoint to append to"):
        write_checkpoint(
            tmp_path / "new.eqx", {"a": jnp.ones(2)}, rows={"r": _rows(0, 1)}, append=True
        )


def test_a_save_cut_at_any_byte_keeps_the_last_one(tmp_path):
    """A kill while appending rows leaves a partial chunk after the last good save (which the
    checkpoint still names); a kill after appending but before replacing the checkpoint leaves a
    whole chunk the checkpoint does not name. Either way the last save reads back, and the next
    save writes over what was left."""
    path = tmp_path / "run.eqx"
    write_checkpoint(path, {"step": jnp.array(3)}, rows={"rows": _rows(0, 3)})
    good = path.read_bytes()
    rows_file = _rows_file(path)
    before = rows_file.stat().st_size
    write_checkpoint(path, {"step": jnp.array(5)}, rows={"rows": _rows(3, 2)}, append=True)
    chunk = rows_file.read_bytes()[before:]
    path.write_bytes(good)  # the new checkpoint never replaced the old one
    for cut in [0, 1, 7, 8, 9, len(chunk) // 2, len(chunk) - 33, len(chunk) - 1, len(chunk)]:
        with open(rows_file, "r+b") as f:
            f.truncate(before)
            f.seek(before)
            f.write(chunk[:cut])
        out = read_checkpoint(path, {"rows": ROW, "step": jnp.array(0)})
        _assert_bit_equal(out["rows"], _rows(0, 3))
        assert int(out["step"]) == 3
    write_checkpoint(path, {"step": jnp.array(4)}, rows={"rows": _rows(7, 1)}, append=True)
    write_checkpoint(path, {"step": jnp.array(4)}, rows={"rows": _rows(8, 0)}, append=True)
    _assert_bit_equal(
        read_checkpoint(path, {"rows": ROW})["rows"], _concat(_rows(0, 3), _rows(7, 1))
    )


def test_damaged_rows_file(tmp_path):
    path = tmp_path / "run.eqx"
    write_checkpoint(path, {"a": jnp.ones(2)}, rows={"rows": _rows(0, 3)})
    rows_file = _rows_file(path)
    data = bytearray(rows_file.read_bytes())
    data[-40] ^= 1
    rows_file.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="do not match their sha256 checksum"):
        read_checkpoint(path, {"rows": ROW})
    read_checkpoint(path, {"a": jnp.zeros(2)})  # the rows are read only when asked for
    rows_file.write_bytes(bytes(data[:-1]))
    with pytest.raises(CheckpointError, match="rows file .* is truncated"):
        read_checkpoint(path, {"rows": ROW})
    rows_file.unlink()
    with pytest.raises(CheckpointError, match="rows file .* is missing: .* keep them together"):
        read_checkpoint(path, {"rows": ROW})


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlink_is_written_through(tmp_path):
    (tmp_path / "store").mkdir()
    target = tmp_path / "store" / "run.eqx"
    link = tmp_path / "link.eqx"
    link.symlink_to(target)
    write_checkpoint(link, {"a": jnp.ones(2)}, rows={"r": _rows(0, 2)})
    write_checkpoint(link, {"a": jnp.full(2, 2.0)}, rows={"r": _rows(2, 1)}, append=True)
    assert link.is_symlink() and target.is_file()
    assert sorted(os.listdir(tmp_path)) == ["link.eqx", "store"]
    assert read_checkpoint(link, {"a": jnp.zeros(2)})["a"].tolist() == [2.0, 2.0]
    _assert_bit_equal(read_checkpoint(target, {"r": ROW})["r"], _concat(_rows(0, 2), _rows(2, 1)))


def test_deeply_nested_header(tmp_path):
    path = tmp_path / "run.eqx"
    header = b"[" * 100_000 + b"]" * 100_000
    path.write_bytes(b"minimax-checkpoint 2\n" + struct.pack("<Q", len(header)) + header)
    with pytest.raises(CheckpointError, match="header is corrupted"):
        read_checkpoint(path, {"a": jnp.zeros(2)})


# Fingerprints


_GLOBAL = jnp.ones(2)


def _uses_global(x, y, args):
    return jnp.dot(_GLOBAL * x, y)


def test_fingerprint_sees_what_makes_a_run():
    import optax

    def fingerprint(game=None, solver=None, players=None, **kw):
        players = players or (jnp.ones(2), jnp.zeros(2))
        game = game or mx.ZeroSumGame(lambda x, y, args: jnp.dot(x, y))
        solver = solver or mx.Simultaneous(optax.sgd(0.1))
        return _checkpoint.run_fingerprint(game, solver, players, None, None, 10, 1, None, **kw)

    base = fingerprint()
    assert base == fingerprint()  # rebuilt objects, the same run
    assert base["steps"] == "10" and base["save_every"] == "1"
    changes = {
        "solver": fingerprint(solver=mx.Simultaneous(optax.sgd(0.2))),  # inside optax's closure
        "game": fingerprint(game=mx.ZeroSumGame(lambda x, y, args: jnp.dot(x, y) + 0.0)),
        "players": fingerprint(players=(jnp.ones(2), jnp.ones(2))),
    }
    for item, other in changes.items():
        assert [k for k in base if base[k] != other[k]] == [item]
    global _GLOBAL
    game = mx.ZeroSumGame(_uses_global)
    before = fingerprint(game=game)
    _GLOBAL = 2 * _GLOBAL  # a global array the game's function reads
    assert fingerprint(game=game)["game"] != before["game"]
    with pytest.raises(TypeError, match="`players` holds a traced value.*`checkpoint=`"):
        jax.jit(lambda x: fingerprint(players=(x, x)))(jnp.ones(2))
