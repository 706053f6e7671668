"""Measures of a trajectory's transient: how far, how long and how much it turns."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PyTree, Scalar

from ._game import AbstractGame, Players
from .checks import check_pair


def _float_leaves(tree: PyTree) -> list[Array]:
    """The floating-point arrays of `tree`, with Python numbers (e.g. an equilibrium `(0, 0)`)
    read as floats; integer arrays and other leaves are not coordinates."""
    leaves = []
    for x in jax.tree.leaves(tree):
        if isinstance(x, int | float) and not isinstance(x, bool):
            leaves.append(jnp.asarray(float(x)))
        elif isinstance(x, jax.Array | np.ndarray) and jnp.issubdtype(x.dtype, jnp.inexact):
            leaves.append(jnp.asarray(x))
    return leaves


def _flat(tree: PyTree, batch: bool, name: str) -> Float[Array, "*t d"]:
    """The floating-point leaves of `tree` (named `name` in errors) as one vector, or with
    `batch` one row per recorded step."""
    leaves = _float_leaves(tree)
    if not leaves:
        raise TypeError(f"`{name}` has no floating-point arrays: there are no coordinates.")
    if not batch:
        return jnp.concatenate([jnp.ravel(x) for x in leaves])
    rows = {x.shape[0] if x.ndim else None for x in leaves}
    if None in rows or len(rows) > 1:
        raise ValueError(
            f"`{name}` must be recorded steps, every array with the same leading axis of steps "
            f"(e.g. `sol.trajectory`); got arrays of shapes {[x.shape for x in leaves][:4]}. "
            "Final players (`sol.players`) are one point, not a trajectory."
        )
    return jnp.concatenate([x.reshape(x.shape[0], -1) for x in leaves], axis=1)


_PLAYERS_HINT = (
    " of the players recorded at every step (`sol.trajectory` of a run without `save=`: with "
    "`save=`, the rows hold what `save` returns)"
)


def _offsets(
    trajectory: PyTree, point: PyTree, point_name: str = "equilibrium"
) -> Float[Array, "t d"]:
    trajectory = check_pair("trajectory", trajectory, "`(xs, ys)`", _PLAYERS_HINT)
    point = check_pair(point_name, point, "`(x*, y*)`", " (e.g. `game.equilibrium()`)")
    z = _flat(trajectory, batch=True, name="trajectory")
    p = _flat(point, batch=False, name=point_name)
    if z.shape[1] != p.shape[0]:
        raise ValueError(
            f"`trajectory` has {z.shape[1]} coordinates per step but `{point_name}` has "
            f"{p.shape[0]}; they must describe the same players."
        )
    return z - p.astype(z.dtype)[None, :]


# Pairs are annotated as PyTrees: `_offsets` checks them, with clearer messages than a type
# checker's.
def distance(trajectory: PyTree, point: PyTree) -> Float[Array, " t"]:
    r"""`|z_t - z^*|` at every step: the Euclidean distance of `(x_t, y_t)` to `point`, over all
    floating-point leaves of both players."""
    return jnp.linalg.norm(_offsets(trajectory, point, "point"), axis=1)


class Cycling(NamedTuple):
    r"""The shape of a transient, all lengths relative to the starting distance
    `d_0 = |z_0 - z^*|`, with `z_t = (x_t, y_t)` flattened and `d_t = |z_t - z^*|`:

    - `first_move`: `|z_1 - z_0| / d_0`, the length of the first step.
    - `overshoot`: $\max_t d_t / d_0$ (1 when the run never moves further away than it started).
    - `path_length`: $\sum_t |z_{t+1} - z_t| / d_0$ (1 for a straight line into `z^*`).
    - `rotations`: the total angle swept by `z_t - z^*` until `steps_to_tol`,
      $\sum_{t < T} \angle(z_t - z^*, z_{t+1} - z^*) / 2\pi$ (angles inside the tolerance are
      left out: at the level of rounding errors the direction of `z_t - z^*` is noise).
    - `distance`: the final `d_T / d_0`.
    - `steps_to_tol`: the first `t` from which $d_s / d_0 \le$ `tol` for every later recorded `s`
      (`inf` if the run ends outside the tolerance).

    A run that starts at the equilibrium ($d_0 = 0$) has no scale to measure by: a length
    relative to $d_0$ is then 0 if it is 0 and `inf` otherwise ($d_0 / d_0$ stays 1). A run that
    stays at the equilibrium has `first_move`, `path_length`, `rotations`, `distance` and
    `steps_to_tol` 0 and `overshoot` 1; one that leaves it has `inf` (and `steps_to_tol` `inf`
    unless it comes back exactly), never NaN.
    """

    first_move: Scalar
    overshoot: Scalar
    path_length: Scalar
    rotations: Scalar
    distance: Scalar
    steps_to_tol: Scalar


def cycling(trajectory: PyTree, equilibrium: PyTree, *, tol: float = 1e-3) -> Cycling:
    r"""Measure how much a trajectory cycles around an equilibrium; see [`minimax.Cycling`][].

    **Arguments:**

    - `trajectory`: `(xs, ys)` recorded at every step, e.g. `mx.solve(...).trajectory` with
      `save_every=1` (step counts are rows of the trajectory).
    - `equilibrium`: `(x*, y*)`, e.g. `game.equilibrium()`.
    - `tol`: the relative distance used by `steps_to_tol`.

    Works under `jax.jit` and `jax.vmap` (e.g. over seeds).

    ```python
    >>> import jax.numpy as jnp, minimax as mx
    >>> line = (jnp.array([1.0, 0.5, 0.0]), jnp.zeros(3))  # straight into the equilibrium
    >>> report = mx.cycling(line, (jnp.array(0.0), jnp.array(0.0)))
    >>> print(report.first_move, report.path_length, report.rotations, report.steps_to_tol)
    0.5 1.0 0.0 2.0

    ```
    """
    dz = _offsets(trajectory, equilibrium)
    if dz.shape[0] < 2:
        raise ValueError("`trajectory` must hold at least two recorded steps (save_every=1).")
    d = jnp.linalg.norm(dz, axis=1)
    d0 = d[0]
    steps = jnp.linalg.norm(jnp.diff(dz, axis=0), axis=1)
    # Angle between consecutive offsets, atan2(|a||b| sin, a.b): accurate at small angles too.
    dots = jnp.sum(dz[:-1] * dz[1:], axis=1)
    cross = jnp.sqrt(jnp.maximum((d[:-1] * d[1:]) ** 2 - dots**2, 0))
    angles = jnp.arctan2(cross, dots)

    def relative(length):
        # Lengths over d0; from the equilibrium (d0 = 0), 0 stays 0 and anything else is inf.
        started_away = d0 > 0
        return jnp.where(
            started_away,
            length / jnp.where(started_away, d0, 1),
            jnp.where(length > 0, jnp.inf, 0),
        )

    outside = relative(d) > tol
    # 1 + the last index outside the tolerance (0 if none is outside).
    last_out = jnp.where(outside.any(), d.shape[0] - jnp.argmax(outside[::-1]), 0)
    steps_to_tol = jnp.where(outside[-1], jnp.inf, last_out.astype(d.dtype))
    before_tol = jnp.arange(angles.shape[0]) < steps_to_tol
    return Cycling(
        first_move=relative(steps[0]),
        overshoot=jnp.maximum(relative(jnp.max(d)), 1),  # d0 / d0 = 1, from the equilibrium too
        path_length=relative(jnp.sum(steps)),
        rotations=jnp.sum(jnp.where(before_tol, angles, 0)) / (2 * jnp.pi),
        distance=relative(d[-1]),
        steps_to_tol=steps_to_tol,
    )


def hamiltonian(game: AbstractGame, players: Players, args: Any = None) -> Scalar:
    r"""$\tfrac12 |F(x, y)|^2$, half the squared norm of the game's vector field: zero exactly at
    stationary points, and the quantity Hamiltonian gradient descent minimises (Balduzzi et al.
    2018, *The mechanics of n-player differentiable games*)."""
    field = game.vector_field(tuple(players), args)
    return 0.5 * sum(jnp.sum(g**2) for g in jax.tree.leaves(field))
