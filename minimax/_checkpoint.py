"""Checkpoints: a run's players and state on disk, read back bit-exactly.

A checkpoint file is laid out as

1. the line `minimax-checkpoint <format version>\\n`;
2. the length in bytes of the header, an unsigned 64-bit little-endian integer;
3. the header: UTF-8 JSON with the format version, the minimax and JAX versions that wrote the
   file, the payload's length and sha256 checksum, and per entry the structure of its array
   leaves (the string of their treedef), each leaf's path, shape and dtype, and the byte offset and
   length of the entry's section in the payload;
4. the payload: per entry, its array leaves written by `eqx.tree_serialise_leaves` (one `.npy`
   record each, never pickled).

Only array leaves are stored; the rest of a PyTree (activation functions, static fields) comes from
the template it is read into.
"""

import contextlib
import hashlib
import io
import json
import os
import re
import secrets
import struct
from collections.abc import Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray, PyTree

from ._state import initial_state

_MAGIC = b"minimax-checkpoint"
_FORMAT = 1
_LENGTH = struct.Struct("<Q")
_FIRST_LINE_MAX = 64  # bytes searched for the first line's newline


class CheckpointError(ValueError):
    """A file that cannot be read as a checkpoint, or does not fit the template it is read into."""


def _version() -> str:
    try:
        from . import __version__  # lazily: `minimax/__init__.py` imports this module

        return __version__
    except ImportError:
        from importlib import metadata

        try:
            return metadata.version("minimax-jax")
        except metadata.PackageNotFoundError:
            return "unknown"


def _is_array_like(x: Any) -> bool:
    """An array leaf of a template: an array, or the shape and dtype of one."""
    return eqx.is_array(x) or isinstance(x, jax.ShapeDtypeStruct)


def _is_key(x: Any) -> bool:
    return jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _treedef_string(treedef) -> str:
    # Static fields holding functions print with their address, which changes from one process to
    # the next; the structure is the same.
    return re.sub(r" at 0x[0-9a-fA-F]+", "", str(treedef))


def _save_leaf(f, x) -> None:
    np.save(f, np.asarray(x), allow_pickle=False)


def _encode(name: str, tree: PyTree) -> tuple[dict[str, Any], bytes]:
    """The header entry and payload section of one entry."""
    arrays = eqx.filter(tree, _is_array_like)
    path_leaves, treedef = jax.tree_util.tree_flatten_with_path(arrays)
    leaves, raw = [], []
    for path, leaf in path_leaves:
        where = f"entries[{name!r}]{jax.tree_util.keystr(path)}"
        if isinstance(leaf, jax.core.Tracer):
            raise TypeError(
                f"`{where}` is a traced array: checkpoints are written outside `jit`, `vmap` and "
                "`grad`, from concrete arrays."
            )
        if isinstance(leaf, jax.ShapeDtypeStruct):
            raise TypeError(f"`{where}` is a jax.ShapeDtypeStruct, not an array; it has no values.")
        info = {
            "path": jax.tree_util.keystr(path),
            "shape": list(np.shape(leaf)),
            "dtype": str(leaf.dtype),
        }
        if _is_key(leaf):
            # `eqx.tree_serialise_leaves` cannot write typed key arrays: store their raw data.
            info["key_impl"] = str(jax.random.key_impl(leaf))
            leaf = jax.random.key_data(leaf)
        elif isinstance(leaf, np.ndarray) and leaf.dtype.hasobject:
            raise TypeError(f"`{where}` has dtype object; only numeric arrays are stored.")
        leaves.append(info)
        raw.append(leaf)
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, raw, filter_spec=_save_leaf)
    return {"treedef": _treedef_string(treedef), "leaves": leaves}, buffer.getvalue()


def _check_folder(path: str) -> str:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"`path` {path!r} is in the folder {folder!r}, which does not exist; create it first."
        )
    if os.path.isdir(path):
        raise IsADirectoryError(f"`path` {path!r} is a folder; pass a file name in it.")
    return folder


def _write_atomic(path: str, chunks: list[bytes]) -> None:
    """Write `chunks` to a temporary file next to `path`, sync it, and rename it over `path`: a
    reader (or a crash) sees the old file or the new one, never part of one."""
    folder = _check_folder(path)
    temp = os.path.join(
        folder, f".{os.path.basename(path)}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
    )
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(temp, flags, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:  # KeyboardInterrupt too: never leave the temporary file behind
        with contextlib.suppress(OSError):
            os.remove(temp)
        raise
    # Make the rename itself durable (POSIX; folders cannot be opened on Windows).
    with contextlib.suppress(OSError):
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def write_checkpoint(path: str | os.PathLike, entries: Mapping[str, PyTree]) -> None:
    """Write the array leaves of each PyTree in `entries` to the checkpoint file `path`, atomically:
    the file is written next to `path` and renamed over it once complete, so an interrupted write
    leaves the previous checkpoint intact.

    **Arguments:**

    - `path`: the file to write; its folder must exist. An existing file is replaced.
    - `entries`: names (strings) to PyTrees. Their array leaves are stored (JAX key arrays as their
      raw data and implementation); other leaves are not, and come back from the template given to
      `read_checkpoint`.
    """
    path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"`path` must be a str or os.PathLike to text, got {path!r}.")
    if not isinstance(entries, Mapping) or not entries:
        raise TypeError(f"`entries` must be a non-empty dict of names to PyTrees, got {entries!r}.")
    header_entries, sections, offset = {}, [], 0
    for name, tree in entries.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"`entries` must have non-empty str keys, got {name!r}.")
        entry, section = _encode(name, tree)
        header_entries[name] = {**entry, "offset": offset, "length": len(section)}
        sections.append(section)
        offset += len(section)
    payload = b"".join(sections)
    header = {
        "format": _FORMAT,
        "minimax_version": _version(),
        "jax_version": jax.__version__,
        "payload_length": len(payload),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "entries": header_entries,
    }
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    first_line = _MAGIC + b" " + str(_FORMAT).encode("ascii") + b"\n"
    _write_atomic(path, [first_line, _LENGTH.pack(len(header_bytes)), header_bytes, payload])


def _error(path: str, message: str) -> CheckpointError:
    return CheckpointError(f"Checkpoint {path!r}: {message}")


def _check_entries(entries: Any, payload_length: int) -> None:
    """Raise `ValueError` unless `entries` is a header's well-formed table of entries."""
    if not isinstance(entries, dict):
        raise ValueError
    for entry in entries.values():
        offset, length = entry["offset"], entry["length"]
        if not (isinstance(entry["treedef"], str) and isinstance(entry["leaves"], list)):
            raise ValueError
        if not (type(offset) is type(length) is int and 0 <= offset <= offset + length):
            raise ValueError
        if offset + length > payload_length:
            raise ValueError
        for leaf in entry["leaves"]:
            shape = leaf["shape"]
            if not (isinstance(leaf["path"], str) and isinstance(leaf["dtype"], str)):
                raise ValueError
            if not (isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape)):
                raise ValueError
            if not isinstance(leaf.get("key_impl", ""), str):
                raise ValueError


def _parse(path: str, data: bytes) -> tuple[dict[str, Any], memoryview]:
    """The header and payload of a checkpoint file's bytes; checks the layout and checksum."""
    newline = data.find(b"\n", 0, _FIRST_LINE_MAX)
    if newline < 0:
        if len(data) < _FIRST_LINE_MAX and (_MAGIC + b" ").startswith(data[: len(_MAGIC) + 1]):
            raise _error(
                path, f"the file is truncated ({len(data)} bytes): it ends inside the first line."
            )
        raise _error(path, f"not a minimax checkpoint: it does not start with {_MAGIC!r}.")
    magic, _, version = data[:newline].partition(b" ")
    if magic != _MAGIC:
        raise _error(path, f"not a minimax checkpoint: it does not start with {_MAGIC!r}.")
    if version != str(_FORMAT).encode("ascii"):
        raise _error(
            path,
            f"checkpoint format version {version.decode('ascii', 'replace')!r}; this minimax "
            f"({_version()}) reads format {_FORMAT} only. Read it with the minimax that wrote it.",
        )
    start = newline + 1 + _LENGTH.size
    if len(data) < start:
        raise _error(path, f"the file is truncated ({len(data)} bytes): it ends before the header.")
    (header_length,) = _LENGTH.unpack_from(data, newline + 1)
    end = start + header_length
    if len(data) < end:
        raise _error(
            path,
            f"the file is truncated ({len(data)} bytes): it ends inside the header, which "
            f"announces {header_length} bytes.",
        )
    try:
        header = json.loads(data[start:end].decode("utf-8"))
        payload_length = int(header["payload_length"])
        checksum = str(header["payload_sha256"])
        _check_entries(header["entries"], payload_length)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise _error(path, "the header is corrupted (it is not what a checkpoint holds).") from None
    payload = memoryview(data)[end:]  # no copy
    if len(payload) < payload_length:
        raise _error(
            path,
            f"the file is truncated: it holds {len(payload)} bytes of payload where the header "
            f"announces {payload_length}. The write was cut short; use an intact copy.",
        )
    if len(payload) > payload_length:
        raise _error(
            path,
            f"the file is corrupted: {len(payload) - payload_length} bytes follow the payload the "
            "header announces.",
        )
    if hashlib.sha256(payload).hexdigest() != checksum:
        raise _error(
            path,
            "the payload is corrupted: its sha256 checksum does not match the one in the header.",
        )
    return header, payload


def _around_difference(a: str, b: str, width: int = 100) -> tuple[str, str]:
    """Both strings cut to `width` characters either side of where they first differ."""
    first = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
    first = min(len(a), len(b)) if first is None else first
    lo = max(0, first - width)

    def cut(s):
        return (
            ("..." if lo else "")
            + s[lo : first + width]
            + ("..." if first + width < len(s) else "")
        )

    return cut(a), cut(b)


def _load_leaf(f, like):
    data = np.load(f, allow_pickle=False)
    if data.dtype.kind == "V" and data.dtype.itemsize == like.dtype.itemsize:
        data = data.view(like.dtype)  # e.g. bfloat16, which `.npy` stores as raw bytes
    return data


def _decode(
    path: str, name: str, entry: dict[str, Any], payload: memoryview, template: PyTree, fix: str
) -> PyTree:
    """Entry `name` of the file, read into `template` and checked against it."""
    arrays, static = eqx.partition(template, _is_array_like)
    path_leaves, treedef = jax.tree_util.tree_flatten_with_path(arrays)
    paths = [jax.tree_util.keystr(p) for p, _ in path_leaves]
    stored = entry["leaves"]
    want = _treedef_string(treedef)
    if entry["treedef"] != want:
        stored_paths = [leaf["path"] for leaf in stored]
        extra = [p for p in stored_paths if p not in paths]
        missing = [p for p in paths if p not in stored_paths]
        detail = ""
        if extra or missing:
            detail = (
                f"Array leaves only in the file: {extra[:5] or 'none'}; only in the template: "
                f"{missing[:5] or 'none'}.\n"
            )
        have, need = _around_difference(entry["treedef"], want)
        raise _error(
            path,
            f"entry {name!r} does not have the structure the template needs.\n"
            f"  The file holds:     {have}\n  The template needs: {need}\n{detail}"
            f"Check {fix}: it must be what the checkpoint was written with.",
        )
    if len(stored) != len(path_leaves):
        raise _error(path, f"the header is corrupted: entry {name!r} lists the wrong leaf count.")
    mismatches, raw_like = [], []
    for where, (_, leaf), info in zip(paths, path_leaves, stored, strict=True):
        shape, dtype = tuple(info["shape"]), info["dtype"]
        if shape != tuple(leaf.shape) or dtype != str(leaf.dtype):
            mismatches.append(
                f"{name}{where}: the file holds shape {shape} dtype {dtype}, the template needs "
                f"shape {tuple(leaf.shape)} dtype {leaf.dtype}"
            )
            continue
        if _is_key(leaf):
            if "key_impl" not in info:
                raise _error(path, f"the header is corrupted: {name}{where} lacks its key_impl.")
            data = jax.eval_shape(jax.random.key_data, jax.ShapeDtypeStruct(leaf.shape, leaf.dtype))
            shape, dtype = data.shape, data.dtype
        # A placeholder of the right shape and dtype that takes no memory.
        raw_like.append(np.broadcast_to(np.zeros((), dtype), shape))
    if mismatches:
        more = f"\n  (and {len(mismatches) - 5} more)" if len(mismatches) > 5 else ""
        x64 = "" if jax.config.jax_enable_x64 else " (float64 needs `jax_enable_x64` on)"
        raise _error(
            path,
            f"entry {name!r} has array leaves that differ from the template:\n  "
            + "\n  ".join(mismatches[:5])
            + f"{more}\nCheck {fix}: its arrays must have the shapes and dtypes the checkpoint was "
            f"written with{x64}.",
        )
    section = payload[entry["offset"] : entry["offset"] + entry["length"]]
    try:
        raw = eqx.tree_deserialise_leaves(io.BytesIO(section), raw_like, filter_spec=_load_leaf)
        triples = zip(raw, path_leaves, stored, strict=True)
        leaves = [_to_leaf(data, leaf, info) for data, (_, leaf), info in triples]
    except Exception as e:
        raise _error(path, f"entry {name!r} is corrupted: its arrays cannot be read ({e}).") from e
    for where, (_, leaf), value in zip(paths, path_leaves, leaves, strict=True):
        if value.dtype != leaf.dtype:  # float64 when x64 is off
            raise _error(
                path,
                f"{name}{where} is {leaf.dtype} but JAX made it {value.dtype}: turn on "
                "`jax.config.update('jax_enable_x64', True)`.",
            )
    return eqx.combine(jax.tree.unflatten(treedef, leaves), static)


def _to_leaf(data: np.ndarray, leaf: Any, info: dict[str, Any]) -> Any:
    """The value read as `data`, of the kind `leaf` is in the template."""
    if _is_key(leaf):
        return jax.random.wrap_key_data(jnp.asarray(data), impl=info["key_impl"])
    if isinstance(leaf, np.ndarray):
        return data
    if isinstance(leaf, np.generic):
        return data[()]
    return jnp.asarray(data)


def read_checkpoint(
    path: str | os.PathLike,
    like: Mapping[str, PyTree],
    *,
    hints: Mapping[str, str] | None = None,
) -> dict[str, PyTree]:
    """Read the entries named in `like` from the checkpoint file `path` (which may hold more).

    Everything is checked first: the format, the checksum of the payload, and each entry against
    its template (structure, and the shape and dtype of every array leaf). Anything wrong raises
    a `CheckpointError` (a `ValueError`) that names the file, the entry and the leaf.

    **Arguments:**

    - `path`: a file written by `write_checkpoint`.
    - `like`: names to templates: PyTrees of the same structure as the written ones, whose array
      leaves may be arrays or `jax.ShapeDtypeStruct`s (e.g. from `eqx.filter_eval_shape`). Their
      other leaves are kept as they are.
    - `hints`: optional, per name, which argument the user should check when that entry does not
      fit its template (e.g. ``"`players_like`"``).

    **Returns:** a dict of the names in `like` to their values: JAX arrays (NumPy arrays where the
    template holds NumPy arrays), bit-exactly as written.
    """
    path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"`path` must be a str or os.PathLike to text, got {path!r}.")
    if not isinstance(like, Mapping):
        raise TypeError(f"`like` must be a dict of names to template PyTrees, got {like!r}.")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"`path` {path!r}: no such checkpoint file.") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"`path` {path!r} is a folder, not a checkpoint file.") from None
    header, payload = _parse(path, data)
    entries = header["entries"]
    out = {}
    for name, template in like.items():
        if name not in entries:
            raise _error(
                path,
                f"no entry {name!r}; the file holds {sorted(entries)} (written by minimax "
                f"{header.get('minimax_version', 'unknown')}).",
            )
        fix = (hints or {}).get(name, f"`like[{name!r}]`")
        out[name] = _decode(path, name, entries[name], payload, template, fix)
    return out


def save_checkpoint(path: str | os.PathLike, sol: Any) -> None:
    """Save a run's final players and state, to resume it later with
    [`minimax.load_checkpoint`][] and `minimax.solve(..., state=state)`.

    The file is replaced atomically: a run killed while saving leaves the previous checkpoint
    intact. Only array leaves are written; the rest (e.g. an MLP's activation) comes back from the
    template given when loading.

    **Arguments:**

    - `path`: the file to write; its folder must exist.
    - `sol`: a [`minimax.Solution`][], as returned by [`minimax.solve`][].
    """
    if not (hasattr(sol, "players") and hasattr(sol, "state")):
        raise TypeError(
            f"`sol` must be a minimax.Solution (from `minimax.solve`), got {type(sol).__name__}."
        )
    write_checkpoint(path, {"players": sol.players, "state": sol.state})


def load_checkpoint(
    path: str | os.PathLike,
    game: Any,
    solver: Any,
    players_like: PyTree,
    args: Any = None,
    key: PRNGKeyArray | None = None,
    *,
    model_state_like: PyTree = None,
) -> tuple[PyTree, PyTree]:
    """Load the players and state saved by [`minimax.save_checkpoint`][].

    The file is checked against what `solver` makes for `game` and `players_like` (computed with
    `eqx.filter_eval_shape`: no arrays are made, nothing is compiled), so a checkpoint of another
    solver, or of players of other shapes, is refused with an error that says what differs.

    ```python
    players, state = minimax.load_checkpoint("run.eqx", game, solver, (x0, y0))
    sol = minimax.solve(game, solver, players, state=state, steps=...)
    ```

    **Arguments:**

    - `path`: the checkpoint file.
    - `game`, `solver`, `args`, `key`: as given to [`minimax.solve`][] for the saved run.
    - `players_like`: players of the same structure, shapes and dtypes as the saved ones, e.g. the
      starting players (their values are not used), or `jax.ShapeDtypeStruct`s. Their non-array
      leaves (e.g. an MLP's activation functions) are the ones returned.
    - `model_state_like`: for a run with a model state, one of the same structure (e.g. the
      starting one).

    **Returns:** `(players, state)`, bit-exactly as saved. A file that is not a checkpoint, is
    damaged, or does not fit `solver` and `players_like` raises a `CheckpointError` (a
    `ValueError`) that says what is wrong.
    """
    if not isinstance(players_like, tuple | list) or len(players_like) != 2:
        raise TypeError(f"`players_like` must be a pair `(x, y)` of PyTrees, got {players_like!r}.")
    players_like = tuple(players_like)
    state_like = eqx.filter_eval_shape(
        initial_state, game, solver, players_like, args, key, model_state_like
    )
    out = read_checkpoint(
        path,
        {"players": players_like, "state": state_like},
        hints={
            "players": "`players_like`",
            "state": "`solver` (its type and optimizers set the state's structure) and "
            "`players_like`",
        },
    )
    return out["players"], out["state"]
