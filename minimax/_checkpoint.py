"""Checkpoints: a run's players and state on disk, read back bit-exactly.

A checkpoint is a file, replaced atomically at every save, laid out as

1. the line `minimax-checkpoint <format version>\\n`;
2. the length in bytes of the header, an unsigned 64-bit little-endian integer;
3. the header: UTF-8 JSON with the format version, the minimax and JAX versions that wrote the
   file, the byte order of the arrays, the fingerprint of the run that wrote it (or null), the
   payload's length and sha256 checksum, and per entry the structure of its array leaves (the
   string of their treedef) and each leaf's path, shape, dtype, byte offset and length in the
   payload; and, when the file keeps rows, where its rows file ends (`rows`);
4. the payload: every array leaf's bytes in C order, one after the other (never pickled).

Rows (a run's trajectory) grow at every save, so they are not rewritten: they are appended to a
rows file beside the checkpoint, `<name>.rows-<token>`, which starts with the line
`minimax-checkpoint-rows <token>\\n` and then holds one chunk per save: the chunk's row count (an
unsigned 64-bit little-endian integer), per leaf of each rows entry the chunk's rows (C order),
and the sha256 of the chunk's count and rows. A save appends its chunk and syncs it, then
replaces the checkpoint, whose header gives the rows file's length at that save: bytes after it
(a save cut short) are ignored, and overwritten by the next save. A kill at any byte therefore
leaves the last complete save readable.

Only array leaves are stored; the rest of a PyTree (activation functions, static fields) comes from
the template it is read into.
"""

import contextlib
import dataclasses
import dis
import functools
import hashlib
import json
import os
import re
import secrets
import struct
import sys
import types
from collections.abc import Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray, PyTree

from ._state import initial_state

_MAGIC = b"minimax-checkpoint"
_ROWS_MAGIC = b"minimax-checkpoint-rows"
_FORMAT = 2
_LENGTH = struct.Struct("<Q")
_FIRST_LINE_MAX = 64  # bytes searched for the first line's newline
_BLOCK = 1 << 20  # bytes read at a time when only checksumming
_TOKEN = re.compile(r"[0-9a-f]{16}")


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


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _without_addresses(text: str) -> str:
    # Functions and objects print with their address, which changes from one process to the
    # next; what they are does not.
    return _ADDRESS.sub("", text)


def _treedef_string(treedef) -> str:
    return _without_addresses(str(treedef))


def _raw_bytes(x: Any) -> np.ndarray:
    """The bytes of an array in C order, as a flat uint8 array (no copy when it is C-ordered)."""
    return np.ascontiguousarray(np.asarray(x)).reshape(-1).view(np.uint8)


# The fingerprint of a run


_MAX_DEPTH = 100  # levels of nesting followed when fingerprinting an object
# Functions of these packages are known by their names, closures and defaults (where optax keeps
# a learning rate); their code and globals are the installed version's.
_LIBRARIES = frozenset({"jax", "jaxlib", "optax", "equinox", "lineax", "numpy", "minimax"})


def _traced_error(name: str) -> TypeError:
    return TypeError(
        f"`{name}` holds a traced value: `checkpoint=` saves concrete arrays to a file, so it "
        "cannot run under `jax.jit`, `jax.vmap` or `jax.grad`. Checkpoint a run outside them "
        "(e.g. one run per learning rate), or run without `checkpoint=`."
    )


def _digest(name: str, obj: Any) -> str:
    """A short hash of what `obj` is: its arrays' bytes, shapes and dtypes, its structure, and
    for functions their code, closures, defaults and the globals they use (not their addresses),
    so that a solver's hyperparameters, even inside an optax closure, are part of it."""
    h = hashlib.sha256()
    seen: dict[int, Any] = {}  # holding each object keeps its id from being reused

    def put(tag: str, data: bytes | str = b"") -> None:
        data = data.encode() if isinstance(data, str) else data
        h.update(f"{tag}:{len(data)}:".encode())
        h.update(data)

    def visit(x: Any, depth: int) -> None:
        if depth > _MAX_DEPTH:
            put("deep", type(x).__qualname__)
        elif x is None or isinstance(x, bool | int | float | complex | str | bytes):
            put(type(x).__name__, repr(x))
        elif isinstance(x, jax.core.Tracer):
            raise _traced_error(name)
        elif isinstance(x, jax.Array | np.ndarray | np.generic):
            if _is_key(x):
                put("key", str(jax.random.key_impl(x)))
                x = jax.random.key_data(x)
            x = np.asarray(x)
            if x.dtype.hasobject:
                put("objects", repr(x.tolist()))
            else:
                put("array", f"{x.dtype}{x.shape}")
                h.update(_raw_bytes(x))
        elif isinstance(x, jax.ShapeDtypeStruct):
            put("shape", f"{x.dtype}{x.shape}")
        elif id(x) in seen:  # a cycle, or an object met before
            put("seen", type(x).__qualname__)
        else:
            seen[id(x)] = x
            visit_object(x, depth + 1)

    def visit_object(x: Any, depth: int) -> None:
        kind = f"{type(x).__module__}.{type(x).__qualname__}"
        if isinstance(x, types.ModuleType):
            put("module", x.__name__)
        elif isinstance(x, type):
            put("class", f"{x.__module__}.{x.__qualname__}")
        elif isinstance(x, list | tuple):  # NamedTuples too, e.g. optax's transformations
            put(kind, str(len(x)))
            for item in x:
                visit(item, depth)
        elif isinstance(x, dict):
            put(kind, str(len(x)))
            for k, v in x.items():
                visit(k, depth)
                visit(v, depth)
        elif isinstance(x, set | frozenset):
            put(kind, repr(sorted(map(repr, x))))
        elif dataclasses.is_dataclass(x):  # equinox Modules: static fields included
            put(kind)
            for field in dataclasses.fields(x):
                put("field", field.name)
                visit(getattr(x, field.name, None), depth)
        elif isinstance(x, functools.partial):
            put(kind)
            visit((x.func, x.args, x.keywords), depth)
        elif isinstance(x, types.MethodType):
            put(kind)
            visit((x.__func__, x.__self__), depth)
        elif isinstance(x, types.FunctionType):
            put("function", f"{x.__module__}.{x.__qualname__}")
            cells = tuple(_cell_contents(cell) for cell in x.__closure__ or ())
            visit((x.__defaults__, x.__kwdefaults__, cells), depth)
            if (x.__module__ or "").partition(".")[0] not in _LIBRARIES:
                # The user's code, and what it reads from its module (e.g. a global matrix).
                used = {
                    n: x.__globals__[n] for n in _global_names(x.__code__) if n in x.__globals__
                }
                visit((x.__code__, used), depth)
        elif isinstance(x, types.CodeType):
            put("code", x.co_code)
            put("names", repr(x.co_names))
            visit(x.co_consts, depth)
        elif hasattr(x, "__wrapped__"):  # `jax.jit`, `functools.wraps` and the like
            put(kind)
            visit(x.__wrapped__, depth)
        else:
            children, treedef = jax.tree_util.tree_flatten(x, is_leaf=lambda y: y is not x)
            if treedef.num_leaves == 1 and children == [x]:  # not a PyTree node
                put(kind, _without_addresses(repr(x)))
            else:
                put(kind, _treedef_string(treedef))
                visit(children, depth)

    visit(obj, 0)
    return "sha256:" + h.hexdigest()[:16]


def _cell_contents(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # a cell not filled yet
        return None


def _global_names(code: types.CodeType) -> list[str]:
    """The names a function's code (and the code nested in it) reads as globals."""
    loads = ("LOAD_GLOBAL", "LOAD_NAME")
    names = [i.argval for i in dis.get_instructions(code) if i.opname in loads]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names += _global_names(const)
    return names


def run_fingerprint(
    game: Any,
    solver: Any,
    players: PyTree,
    args: Any,
    key: PRNGKeyArray | None,
    steps: int,
    save_every: int | None,
    save: Any,
    **more: Any,
) -> dict[str, str]:
    """What identifies a checkpointed run, item by item, for [`minimax.solve`][]'s `checkpoint=`:
    a file written by another run is refused, naming what differs.

    **Arguments:** as given to `solve`; `more`: further items (e.g. `state=`, the state the run
    starts from).

    **Returns:** a dict from each item's name to a string: the value itself for `steps` and
    `save_every`, and for the others a short hash of what they are (the bytes, shapes and dtypes
    of their arrays, their structure, and for functions their code, closures and the globals
    they use, never their addresses): a solver of other hyperparameters, a game of other
    coefficients, other starting players, `args` or `key` all change it. Functions of jax, optax,
    equinox, lineax, NumPy and minimax are known by their names, closures and defaults, not
    their code; objects that are neither PyTrees, dataclasses nor functions by their type and
    `repr`.

    Raises a `TypeError` if an item holds a traced value (under `jit`, `vmap` or `grad`): a
    checkpoint needs concrete values.
    """
    # The caller's own items first: a traced value is named as the user gave it.
    items = {"game": game, "solver": solver, "players": players, "args": args, "key": key}
    items |= {"save": save, **more}
    out = {"steps": str(steps), "save_every": str(save_every)}
    for name, value in items.items():
        out[name] = _digest(name, value)
    return out


def _fingerprint_error(stored: Any, fingerprint: Mapping[str, str]) -> str | None:
    """What differs between a file's fingerprint and a run's, or None if nothing does."""
    if stored is None:
        return (
            "it records no run: it was written by `save_checkpoint` or `write_checkpoint`, not by "
            "`solve(..., checkpoint=...)`."
        )
    differ = [k for k in {**stored, **fingerprint} if stored.get(k) != fingerprint.get(k)]
    if not differ:
        return None

    def describe(k):
        mine, theirs = fingerprint.get(k), stored.get(k)
        if mine is None or theirs is None or mine.startswith("sha256:"):
            return f"`{k}`"
        return f"`{k}` ({theirs} in the file, {mine} now)"

    return (
        f"it was written by another run: {', '.join(map(describe, differ))} "
        f"differ{'s' if len(differ) == 1 else ''}. Resume it with the call that wrote it, or give "
        "another `checkpoint` path (or move the file) to start a new run. To continue from it on "
        "purpose, load it with `minimax.load_checkpoint` and pass `state=` to `minimax.solve`."
    )


# Writing


def _encode(name: str, tree: PyTree, rows: bool) -> tuple[dict[str, Any], list[np.ndarray]]:
    """The header entry of one entry and its leaves' bytes. For `rows`, every array leaf has a
    leading axis of rows, and the entry describes one row."""
    arrays = eqx.filter(tree, _is_array_like)
    path_leaves, treedef = jax.tree_util.tree_flatten_with_path(arrays)
    leaves, raw = [], []
    for path, leaf in path_leaves:
        where = f"{'rows' if rows else 'entries'}[{name!r}]{jax.tree_util.keystr(path)}"
        if isinstance(leaf, jax.core.Tracer):
            raise TypeError(
                f"`{where}` is a traced array: checkpoints are written outside `jit`, `vmap` and "
                "`grad`, from concrete arrays."
            )
        if isinstance(leaf, jax.ShapeDtypeStruct):
            raise TypeError(f"`{where}` is a jax.ShapeDtypeStruct, not an array; it has no values.")
        shape = list(np.shape(leaf))
        if rows and not shape:
            raise TypeError(f"`{where}` is a scalar; rows need a leading axis of rows.")
        info = {"path": jax.tree_util.keystr(path), "shape": shape[1:] if rows else shape}
        info["dtype"] = str(leaf.dtype)
        if _is_key(leaf):
            info["key_impl"] = str(jax.random.key_impl(leaf))
            leaf = jax.random.key_data(leaf)  # typed keys have no bytes of their own
        elif isinstance(leaf, np.ndarray) and leaf.dtype.hasobject:
            raise TypeError(f"`{where}` has dtype object; only numeric arrays are stored.")
        leaf = np.asarray(leaf)
        info["nbytes"] = leaf.dtype.itemsize * int(np.prod(leaf.shape[1:] if rows else leaf.shape))
        data = _raw_bytes(leaf)
        leaves.append(info)
        raw.append(data)
    return {"treedef": _treedef_string(treedef), "leaves": leaves}, raw


def _real_path(path: Any, name: str = "path") -> str:
    """`path` as text, a symlink resolved to its target, so that writes replace the target and
    leave the link in place."""
    path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"`{name}` must be a str or os.PathLike to text, got {path!r}.")
    return os.path.realpath(path)


def _check_folder(path: str, real: str, name: str = "path") -> str:
    folder = os.path.dirname(real)
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"`{name}` {path!r} is in the folder {folder!r}, which does not exist; create it first."
        )
    if os.path.isdir(real):
        raise IsADirectoryError(f"`{name}` {path!r} is a folder; pass a file name in it.")
    return folder


def _temp_path(real: str) -> str:
    """A new temporary file's name beside `real`; `_remove_stale` knows the pattern."""
    folder, base = os.path.split(real)
    return os.path.join(folder, f".{base}.tmp-{os.getpid()}-{secrets.token_hex(4)}")


def _rows_path(real: str, token: str) -> str:
    return f"{real}.rows-{token}"


def _alive(pid: int) -> bool:
    """Whether process `pid` may still be writing (True when it cannot be told)."""
    if pid == os.getpid():  # not saving now: this process is here
        return False
    if os.name != "posix":  # cannot tell: Windows' os.kill(pid, 0) would end the process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process
        return True
    return True


def _remove_stale(real: str, rows_token: str | None) -> None:
    """Remove what earlier saves to `real` left behind: temporary files of processes that are
    gone (killed while saving), and rows files other than `rows_token`'s. Only these patterns,
    next to `real`, are touched."""
    folder, base = os.path.split(real)
    temp = re.compile(rf"\.{re.escape(base)}\.tmp-(\d+)-[0-9a-f]+")
    rows = re.compile(rf"{re.escape(base)}\.rows-([0-9a-f]{{16}})")
    with contextlib.suppress(OSError):
        for name in os.listdir(folder):
            match = temp.fullmatch(name)
            stale = match is not None and not _alive(int(match[1]))
            match = rows.fullmatch(name)
            stale |= match is not None and match[1] != rows_token
            if stale:
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(folder, name))


def _sync_folder(folder: str) -> None:
    """Make a rename or a new file in `folder` durable (POSIX; folders cannot be opened on
    Windows)."""
    with contextlib.suppress(OSError):
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _write_atomic(real: str, chunks: list[Any]) -> None:
    """Write `chunks` to a temporary file next to `real`, sync it, and rename it over `real`: a
    reader (or a crash) sees the old file or the new one, never part of one."""
    temp = _temp_path(real)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(temp, flags, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, real)
    except BaseException:  # KeyboardInterrupt too: never leave the temporary file behind
        with contextlib.suppress(OSError):
            os.remove(temp)
        raise
    _sync_folder(os.path.dirname(real))


def prepare_checkpoint(path: str | os.PathLike, *, name: str = "checkpoint") -> str:
    """Get ready to save to `path`, before any computing: check that its folder exists and can
    be written (by creating and removing a file in it), and remove what earlier saves to it left
    behind (see `_remove_stale`).

    **Returns:** the path to write: `path`, or the target of `path` if it is a symlink.
    """
    shown = os.fspath(path)
    real = _real_path(path, name)
    folder = _check_folder(shown, real, name)
    temp = _temp_path(real)
    try:
        os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        os.remove(temp)
    except OSError as e:
        kind = PermissionError if isinstance(e, PermissionError) else OSError
        raise kind(
            f"`{name}` {shown!r}: cannot write in the folder {folder!r} ({e.strerror}); "
            "choose a folder this process can write to."
        ) from None
    token = None
    if os.path.exists(real):
        try:
            with open(real, "rb") as f:
                token = _read_header(real, f, os.fstat(f.fileno()).st_size)[0]["rows"] or {}
                token = token.get("token")
        except (OSError, CheckpointError):
            return real  # a file that is not a checkpoint: its reader will say so; touch nothing
    _remove_stale(real, token)
    return real


def write_checkpoint(
    path: str | os.PathLike,
    entries: Mapping[str, PyTree],
    *,
    fingerprint: Mapping[str, str] | None = None,
    rows: Mapping[str, PyTree] | None = None,
    append: bool = False,
) -> None:
    """Write the array leaves of each PyTree in `entries` to the checkpoint file `path`, atomically:
    the file is written next to `path` and renamed over it once complete, so an interrupted write
    leaves the previous checkpoint intact. A symlink at `path` stays: its target is replaced.

    **Arguments:**

    - `path`: the file to write; its folder must exist. An existing file is replaced.
    - `entries`: names (strings) to PyTrees. Their array leaves are stored (JAX key arrays as their
      raw data and implementation); other leaves are not, and come back from the template given to
      `read_checkpoint`.
    - `fingerprint`: what identifies the run (from `run_fingerprint`), recorded in the header so
      that `read_checkpoint(..., fingerprint=...)` can refuse another run's file.
    - `rows`: names to PyTrees whose array leaves share a leading axis of rows (a trajectory):
      these rows are written to the rows file beside `path` (see the module's docstring).
    - `append`: add `rows` after the rows the checkpoint at `path` holds (which must be of the
      same run and the same names, structures, shapes and dtypes), instead of starting anew.
      Only the new rows are written.
    """
    shown = os.fspath(path)
    real = _real_path(path)
    if not isinstance(entries, Mapping) or not entries:
        raise TypeError(f"`entries` must be a non-empty dict of names to PyTrees, got {entries!r}.")
    if rows is not None and (not isinstance(rows, Mapping) or not rows):
        raise TypeError(f"`rows` must be a non-empty dict of names to PyTrees, got {rows!r}.")
    if append and rows is None:
        raise TypeError("`append=True` needs `rows`, the rows to append.")
    _check_folder(shown, real)
    header_entries, raw, offset = {}, [], 0
    for name, tree in entries.items():
        _check_name("entries", name)
        entry, data = _encode(name, tree, rows=False)
        for info, leaf in zip(entry["leaves"], data, strict=True):
            info["offset"] = offset
            offset += leaf.size
        header_entries[name] = entry
        raw += data
    checksum = hashlib.sha256()
    for leaf in raw:
        checksum.update(leaf)
    rows_info = None if rows is None else _append_rows(shown, real, rows, fingerprint, append)
    header = {
        "format": _FORMAT,
        "minimax_version": _version(),
        "jax_version": jax.__version__,
        "byteorder": sys.byteorder,
        "fingerprint": None if fingerprint is None else dict(fingerprint),
        "payload_length": offset,
        "payload_sha256": checksum.hexdigest(),
        "entries": header_entries,
        "rows": rows_info,
    }
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    first_line = _MAGIC + b" " + str(_FORMAT).encode("ascii") + b"\n"
    _write_atomic(real, [first_line, _LENGTH.pack(len(header_bytes)), header_bytes, *raw])
    _remove_stale(real, None if rows_info is None else rows_info["token"])


def _check_name(what: str, name: Any) -> None:
    if not isinstance(name, str) or not name:
        raise TypeError(f"`{what}` must have non-empty str keys, got {name!r}.")


def _append_rows(
    shown: str, real: str, rows: Mapping[str, PyTree], fingerprint: Any, append: bool
) -> dict[str, Any]:
    """Append `rows` to the rows file of the checkpoint at `real` (a new rows file unless
    `append`), synced; returns the header's `rows` for the checkpoint that will name them."""
    described, raw = {}, []
    for name, tree in rows.items():
        _check_name("rows", name)
        described[name], data = _encode(name, tree, rows=True)
        raw += data
    counts = {np.shape(leaf)[0] for leaf in jax.tree.leaves(eqx.filter(dict(rows), eqx.is_array))}
    if len(counts) > 1:
        raise ValueError(f"`rows`: every array leaf must have as many rows; got {sorted(counts)}.")
    count = counts.pop() if counts else 0
    if append:
        try:
            with open(real, "rb") as f:
                header = _read_header(shown, f, os.fstat(f.fileno()).st_size)[0]
        except FileNotFoundError:
            raise _error(shown, "`append=True`, but there is no checkpoint to append to.") from None
        old = header["rows"]
        if old is None or header["fingerprint"] != (None if fingerprint is None else fingerprint):
            raise _error(shown, "`append=True`, but the checkpoint holds no rows of this run.")
        if old["entries"] != described:
            raise _error(shown, "`append=True`, but the rows differ from those in the file.")
        token, length, total = old["token"], old["length"], old["count"]
        mode = "r+b"
    else:
        token, total = secrets.token_hex(8), 0
        length = len(_ROWS_MAGIC) + 1 + len(token) + 1
        mode = "xb"
    rows_path = _rows_path(real, token)
    with open(rows_path, mode) as f:
        if append:
            f.truncate(length)  # drop what a save cut short left after the last good one
            f.seek(length)
        else:
            f.write(_ROWS_MAGIC + b" " + token.encode("ascii") + b"\n")
        chunk = hashlib.sha256()
        for data in [_LENGTH.pack(count), *raw]:
            chunk.update(data)
            f.write(data)
        f.write(chunk.digest())
        f.flush()
        os.fsync(f.fileno())
        length = f.tell()
    if not append:
        _sync_folder(os.path.dirname(real))
    return {"token": token, "length": length, "count": total + count, "entries": described}


# Reading


def _error(path: str, message: str) -> CheckpointError:
    return CheckpointError(f"Checkpoint {path!r}: {message}")


def _is_count(x: Any) -> bool:
    return type(x) is int and x >= 0


def _check_entry(entry: Any, rows: bool) -> None:
    """Raise `ValueError` unless `entry` is a well-formed header entry."""
    if not (isinstance(entry["treedef"], str) and isinstance(entry["leaves"], list)):
        raise ValueError
    for leaf in entry["leaves"]:
        if not (isinstance(leaf["path"], str) and isinstance(leaf["dtype"], str)):
            raise ValueError
        if not (isinstance(leaf["shape"], list) and all(map(_is_count, leaf["shape"]))):
            raise ValueError
        if not (_is_count(leaf["nbytes"]) and isinstance(leaf.get("key_impl", ""), str)):
            raise ValueError
        if not rows and not _is_count(leaf["offset"]):
            raise ValueError


def _check_header(header: Any) -> None:
    """Raise `ValueError` (or `KeyError`, `TypeError`) unless `header` is a well-formed one."""
    if not (_is_count(header["payload_length"]) and isinstance(header["payload_sha256"], str)):
        raise ValueError
    if header["byteorder"] not in ("little", "big"):
        raise ValueError
    fingerprint = header["fingerprint"]
    if fingerprint is not None and not all(
        isinstance(k, str) and isinstance(v, str) for k, v in fingerprint.items()
    ):
        raise ValueError
    offset = 0
    for entry in header["entries"].values():
        _check_entry(entry, rows=False)
        for leaf in entry["leaves"]:  # the leaves lie one after the other
            if leaf["offset"] != offset:
                raise ValueError
            offset += leaf["nbytes"]
    if offset != header["payload_length"]:
        raise ValueError
    rows = header["rows"]
    if rows is not None:
        if not (isinstance(rows["token"], str) and _TOKEN.fullmatch(rows["token"])):
            raise ValueError
        if not (_is_count(rows["length"]) and _is_count(rows["count"])):
            raise ValueError
        for entry in rows["entries"].values():
            _check_entry(entry, rows=True)


def _read_header(path: str, f: Any, size: int) -> tuple[dict[str, Any], int]:
    """The header of the checkpoint open as `f`, of `size` bytes, and where its payload starts;
    checks the layout."""
    head = f.read(_FIRST_LINE_MAX)
    newline = head.find(b"\n")
    if newline < 0:
        if len(head) < _FIRST_LINE_MAX and (_MAGIC + b" ").startswith(head[: len(_MAGIC) + 1]):
            raise _error(
                path, f"the file is truncated ({size} bytes): it ends inside the first line."
            )
        raise _error(path, f"not a minimax checkpoint: it does not start with {_MAGIC!r}.")
    magic, _, version = head[:newline].partition(b" ")
    if magic != _MAGIC:
        raise _error(path, f"not a minimax checkpoint: it does not start with {_MAGIC!r}.")
    if version != str(_FORMAT).encode("ascii"):
        raise _error(
            path,
            f"checkpoint format version {version.decode('ascii', 'replace')!r}; this minimax "
            f"({_version()}) reads format {_FORMAT} only. Read it with the minimax that wrote it.",
        )
    start = newline + 1 + _LENGTH.size
    if size < start:
        raise _error(path, f"the file is truncated ({size} bytes): it ends before the header.")
    f.seek(newline + 1)
    (header_length,) = _LENGTH.unpack(f.read(_LENGTH.size))
    end = start + header_length
    if size < end:
        raise _error(
            path,
            f"the file is truncated ({size} bytes): it ends inside the header, which "
            f"announces {header_length} bytes.",
        )
    try:
        header = json.loads(f.read(header_length).decode("utf-8"))
        _check_header(header)
    # RecursionError: a crafted header nested deeper than `json` can parse.
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise _error(path, "the header is corrupted (it is not what a checkpoint holds).") from None
    return header, end


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


def _width_advice(stored: list[tuple[str, Any]], fix: str) -> str:
    """Why dtypes differ only in width, when they do: x64 on in one process and off in the
    other."""
    wider = narrower = False
    for have, need in stored:
        try:
            have = jnp.dtype(have)
        except TypeError:
            continue
        if have.kind == need.kind and have.kind in "fciu" and have.itemsize != need.itemsize:
            wider |= have.itemsize > need.itemsize
            narrower |= have.itemsize < need.itemsize
    if wider and not jax.config.jax_enable_x64:
        return (
            " The file holds 64-bit values: it was written with `jax_enable_x64` on; turn it on "
            "(`jax.config.update('jax_enable_x64', True)`) to read it."
        )
    if narrower and jax.config.jax_enable_x64:
        return (
            f" The file holds 32-bit values where {fix} has 64-bit ones: it was written with "
            "`jax_enable_x64` off, or from 32-bit arrays; read it the same way."
        )
    return ""


def _plan(path: str, name: str, entry: dict[str, Any], template: PyTree, fix: str) -> tuple:
    """Check entry `name` of the file against `template`; returns what reading it needs: the
    template's treedef and static part, and per array leaf `(info, template leaf, shape and
    dtype of its bytes)`."""
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
    mismatches, dtypes, specs = [], [], []
    for where, (_, leaf), info in zip(paths, path_leaves, stored, strict=True):
        shape, dtype = tuple(info["shape"]), info["dtype"]
        if shape != tuple(leaf.shape) or dtype != str(leaf.dtype):
            mismatches.append(
                f"{name}{where}: the file holds shape {shape} dtype {dtype}, the template needs "
                f"shape {tuple(leaf.shape)} dtype {leaf.dtype}"
            )
            dtypes.append((dtype, leaf.dtype))
            continue
        data = jax.ShapeDtypeStruct(leaf.shape, leaf.dtype)
        if _is_key(leaf):
            if "key_impl" not in info:
                raise _error(path, f"the header is corrupted: {name}{where} lacks its key_impl.")
            data = jax.eval_shape(jax.random.key_data, data)
        if info["nbytes"] != int(np.prod(data.shape)) * data.dtype.itemsize:
            raise _error(path, f"the header is corrupted: {name}{where} has the wrong size.")
        specs.append((info, leaf, data.shape, np.dtype(data.dtype)))
    if mismatches:
        more = f"\n  (and {len(mismatches) - 5} more)" if len(mismatches) > 5 else ""
        raise _error(
            path,
            f"entry {name!r} has array leaves that differ from the template:\n  "
            + "\n  ".join(mismatches[:5])
            + f"{more}\nCheck {fix}: its arrays must have the shapes and dtypes the checkpoint was "
            f"written with.{_width_advice(dtypes, fix)}",
        )
    return treedef, static, specs


def _read_into(path: str, f: Any, buffer: np.ndarray) -> None:
    view = memoryview(buffer)
    while view.nbytes:
        n = f.readinto(view)
        if not n:
            raise _error(path, "the file is truncated: it ended while being read.")
        view = view[n:]


def _skip(path: str, f: Any, n: int, checksum: Any) -> None:
    """Read `n` bytes only to checksum them, a block at a time."""
    buffer = np.empty(min(n, _BLOCK), np.uint8)
    while n:
        part = buffer[: min(n, _BLOCK)]
        _read_into(path, f, part)
        checksum.update(part)
        n -= part.size


def _to_leaf(path: str, where: str, data: np.ndarray, leaf: Any, info: dict, rows: bool) -> Any:
    """The value read as `data`, of the kind `leaf` is in the template."""
    if _is_key(leaf):
        return jax.random.wrap_key_data(jax.device_put(data), impl=info["key_impl"])
    if isinstance(leaf, np.ndarray) or (rows and isinstance(leaf, np.generic)):
        return data
    if isinstance(leaf, np.generic):
        return data[()]
    value = jax.device_put(data)  # on CPU, the bytes read, not a copy (`_aligned`)
    if value.dtype != leaf.dtype:  # float64 when x64 is off
        raise _error(
            path,
            f"{where} is {leaf.dtype} but JAX made it {value.dtype}: turn on "
            "`jax.config.update('jax_enable_x64', True)`.",
        )
    return value


def _aligned(n: int, alignment: int = 64) -> np.ndarray:
    """`n` bytes aligned as JAX's CPU client needs to use them in place, without copying."""
    raw = np.empty(n + alignment, np.uint8)
    start = -raw.ctypes.data % alignment
    return raw[start : start + n]


def _bytes_as(data: np.ndarray, shape: tuple, dtype: np.dtype, swap: bool) -> np.ndarray:
    data = data.view(dtype).reshape(shape)
    return data.byteswap() if swap else data


def _read_payload(
    path: str, f: Any, header: dict, start: int, plans: dict[str, tuple]
) -> dict[int, Any]:
    """The leaves the plans ask for, read in one pass over the payload that checksums all of it:
    one leaf's bytes in memory at a time besides the values made so far."""
    wanted = {id(spec[0]): (name, spec) for name, plan in plans.items() for spec in plan[2]}
    swap = header["byteorder"] != sys.byteorder
    checksum, values = hashlib.sha256(), {}
    f.seek(start)
    for entry in header["entries"].values():
        for info in entry["leaves"]:
            if id(info) not in wanted:
                _skip(path, f, info["nbytes"], checksum)
                continue
            name, (_, leaf, shape, dtype) = wanted[id(info)]
            data = _aligned(info["nbytes"])
            _read_into(path, f, data)
            checksum.update(data)
            data = _bytes_as(data, shape, dtype, swap)
            values[id(info)] = _to_leaf(path, name + info["path"], data, leaf, info, rows=False)
    if checksum.hexdigest() != header["payload_sha256"]:
        raise _error(
            path,
            "the payload is corrupted: its sha256 checksum does not match the one in the header.",
        )
    return values


@contextlib.contextmanager
def _open(path: str, real: str, missing: str | None) -> Any:
    """`real` open for reading, or an error that names `path`: `missing` (a checkpoint's
    message) when it does not exist."""
    try:
        f = open(real, "rb")  # noqa: SIM115 (closed below; opening alone has its own errors)
    except FileNotFoundError:
        if missing is not None:
            raise _error(path, missing) from None
        raise FileNotFoundError(f"`path` {path!r}: no such checkpoint file.") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"`path` {path!r} is a folder, not a checkpoint file.") from None
    with f:
        yield f


def _read_rows(path: str, real: str, header: dict, plans: dict[str, tuple]) -> dict[int, Any]:
    """The rows the plans ask for, read chunk by chunk from the rows file, each chunk checked
    against its checksum."""
    rows = header["rows"]
    rows_path = _rows_path(real, rows["token"])
    first = _ROWS_MAGIC + b" " + rows["token"].encode("ascii") + b"\n"
    length, total = rows["length"], rows["count"]
    missing = (
        f"its rows file {rows_path!r} is missing: a checkpoint that keeps rows is two files; "
        "keep them together (copy or move both)."
    )
    infos = [info for entry in rows["entries"].values() for info in entry["leaves"]]
    row_bytes = sum(info["nbytes"] for info in infos)
    wanted = {id(spec[0]): (name, spec) for name, plan in plans.items() for spec in plan[2]}
    buffers = {id(info): np.empty(total * info["nbytes"], np.uint8) for info in infos}
    buffers = {k: v for k, v in buffers.items() if k in wanted}
    with _open(path, rows_path, missing) as f:
        if f.read(len(first)) != first:
            raise _error(path, f"its rows file {rows_path!r} is not the one it was written with.")
        if os.fstat(f.fileno()).st_size < length:
            raise _error(path, f"its rows file {rows_path!r} is truncated.")
        position, done = len(first), 0
        while position < length:
            count_bytes = f.read(_LENGTH.size)
            (count,) = _LENGTH.unpack(count_bytes) if len(count_bytes) == 8 else (-1,)
            end = position + _LENGTH.size + count * row_bytes + 32
            if not 0 <= count <= total - done or end > length:
                raise _error(path, f"its rows file {rows_path!r} is corrupted at byte {position}.")
            checksum = hashlib.sha256(count_bytes)
            for info in infos:
                n = info["nbytes"]
                if id(info) in buffers:
                    part = buffers[id(info)][done * n : (done + count) * n]
                    _read_into(path, f, part)
                    checksum.update(part)
                else:
                    _skip(path, f, count * n, checksum)
            if f.read(32) != checksum.digest():
                raise _error(
                    path,
                    f"its rows file {rows_path!r} is corrupted: the rows saved at byte "
                    f"{position} do not match their sha256 checksum.",
                )
            position, done = end, done + count
        if position != length or done != total:
            raise _error(path, "the header is corrupted: its rows end at the wrong place.")
    swap = header["byteorder"] != sys.byteorder
    values = {}
    for key, buffer in buffers.items():
        name, (info, leaf, shape, dtype) = wanted[key]
        data = _bytes_as(buffer, (total, *shape), dtype, swap)
        values[key] = _to_leaf(path, name + info["path"], data, leaf, info, rows=True)
    return values


def read_checkpoint(
    path: str | os.PathLike,
    like: Mapping[str, PyTree],
    *,
    hints: Mapping[str, str] | None = None,
    fingerprint: Mapping[str, str] | None = None,
) -> dict[str, PyTree]:
    """Read the entries named in `like` from the checkpoint file `path` (which may hold more).

    Everything is checked first: the format, the run's fingerprint (when given), and each entry
    against its template (structure, and the shape and dtype of every array leaf); then the
    arrays are read one at a time (memory near the size of what is read), their checksums
    checked. Anything wrong raises a `CheckpointError` (a `ValueError`) that names the file, the
    entry and the leaf.

    **Arguments:**

    - `path`: a file written by `write_checkpoint`.
    - `like`: names to templates: PyTrees of the same structure as the written ones, whose array
      leaves may be arrays or `jax.ShapeDtypeStruct`s (e.g. from `eqx.filter_eval_shape`). Their
      other leaves are kept as they are. For an entry written as `rows`, the template is one row;
      its value comes back with a leading axis of all the rows saved.
    - `hints`: optional, per name, which argument the user should check when that entry does not
      fit its template (e.g. ``"`players_like`"``).
    - `fingerprint`: optional, what identifies the run (from `run_fingerprint`): a file written
      by another run is refused, naming the items that differ.

    **Returns:** a dict of the names in `like` to their values: JAX arrays (NumPy arrays where the
    template holds NumPy arrays), bit-exactly as written.
    """
    shown = os.fspath(path)
    real = _real_path(path)
    if not isinstance(like, Mapping):
        raise TypeError(f"`like` must be a dict of names to template PyTrees, got {like!r}.")
    with _open(shown, real, None) as f:
        size = os.fstat(f.fileno()).st_size
        header, start = _read_header(shown, f, size)
        payload, announced = size - start, header["payload_length"]
        if payload < announced:
            raise _error(
                shown,
                f"the file is truncated: it holds {payload} bytes of payload where the header "
                f"announces {announced}. The write was cut short; use an intact copy.",
            )
        if payload > announced:
            raise _error(
                shown,
                f"the file is corrupted: {payload - announced} bytes follow the payload the "
                "header announces.",
            )
        if fingerprint is not None:
            differs = _fingerprint_error(header["fingerprint"], fingerprint)
            if differs:
                raise _error(shown, differs)
        entries, rows = header["entries"], (header["rows"] or {}).get("entries", {})
        plans, row_plans = {}, {}
        for name, template in like.items():
            fix = (hints or {}).get(name, f"`like[{name!r}]`")
            if name in entries:
                plans[name] = _plan(shown, name, entries[name], template, fix)
            elif name in rows:
                row_plans[name] = _plan(shown, name, rows[name], template, fix)
            else:
                raise _error(
                    shown,
                    f"no entry {name!r}; the file holds {sorted({**entries, **rows})} (written "
                    f"by minimax {header.get('minimax_version', 'unknown')}).",
                )
        values = _read_payload(shown, f, header, start, plans)
    if row_plans:
        values |= _read_rows(shown, real, header, row_plans)
    out = {}
    for name, (treedef, static, specs) in (plans | row_plans).items():
        leaves = [values[id(spec[0])] for spec in specs]
        out[name] = eqx.combine(jax.tree.unflatten(treedef, leaves), static)
    return {name: out[name] for name in like}


def save_checkpoint(path: str | os.PathLike, sol: Any) -> None:
    """Save a run's final players and state, to resume it later with
    [`minimax.load_checkpoint`][] and `minimax.solve(..., state=state)`.

    The file is replaced atomically: a run killed while saving leaves the previous checkpoint
    intact. Only array leaves are written; the rest (e.g. an MLP's activation) comes back from the
    template given when loading. A symlink at `path` stays a symlink; its target is replaced.

    **Arguments:**

    - `path`: the file to write; its folder must exist.
    - `sol`: a [`minimax.Solution`][], as returned by [`minimax.solve`][].
    """
    if not (hasattr(sol, "players") and hasattr(sol, "state")):
        raise TypeError(
            f"`sol` must be a minimax.Solution (from `minimax.solve`), got {type(sol).__name__}."
        )
    write_checkpoint(path, {"players": sol.players, "state": sol.state})


def as_template(tree: PyTree) -> PyTree:
    """`tree` with each array leaf replaced by the shape and dtype JAX makes of it (NumPy float64
    is float32 when x64 is off): what a run of it holds, and so what its checkpoint holds."""
    return eqx.filter_eval_shape(lambda t: t, tree)


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
    """Load the players and state saved by [`minimax.save_checkpoint`][] (or by
    `minimax.solve(..., checkpoint=path)`).

    The file is checked against what `solver` makes for `game` and `players_like` (computed with
    `eqx.filter_eval_shape`: no arrays are made, nothing is compiled), so a checkpoint of another
    solver, or of players of other shapes, is refused with an error that says what differs. The
    arrays are read one at a time: loading takes about the file's size in memory.

    ```python
    players, state = minimax.load_checkpoint("run.eqx", game, solver, (x0, y0))
    sol = minimax.solve(game, solver, players, state=state, steps=...)
    ```

    **Arguments:**

    - `path`: the checkpoint file.
    - `game`, `solver`, `args`, `key`: as given to [`minimax.solve`][] for the saved run.
    - `players_like`: players of the same structure, shapes and dtypes as the saved ones, e.g. the
      starting players (their values are not used), or `jax.ShapeDtypeStruct`s. Their dtypes are
      taken as JAX makes them (NumPy float64 is float32 when x64 is off). Their non-array
      leaves (e.g. an MLP's activation functions) are the ones returned.
    - `model_state_like`: for a run with a model state, one of the same structure (e.g. the
      starting one).

    **Returns:** `(players, state)`, bit-exactly as saved. A file that is not a checkpoint, is
    damaged, or does not fit `solver` and `players_like` raises a `CheckpointError` (a
    `ValueError`) that says what is wrong.
    """
    if not isinstance(players_like, tuple | list) or len(players_like) != 2:
        raise TypeError(f"`players_like` must be a pair `(x, y)` of PyTrees, got {players_like!r}.")
    players_like = as_template(tuple(players_like))
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
