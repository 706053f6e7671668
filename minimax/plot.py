"""Figures of game dynamics with matplotlib: paths, distances, spectra and stability maps.

An optional extra: `pip install 'minimax-jax[plots]'`. matplotlib is imported when a function is
called, not with this module. Every function draws on the axes it is given (or on a new figure's
axes when `ax` is None) and returns them; none changes matplotlib's global settings.
"""

from collections.abc import Mapping
from typing import Any

import numpy as np
from jaxtyping import ArrayLike, Float, Shaped

from ._analysis import LinearisedRate
from ._metrics import _flat, _offsets
from ._solve import Solution
from .checks import check_pair

__all__ = ["distance_curves", "eigenvalues", "phase_portrait", "stability_map"]


def _matplotlib() -> Any:
    try:
        import matplotlib
        import matplotlib.patches  # noqa: F401
    except ImportError as e:
        raise ImportError(
            "minimax.plot needs matplotlib; install it with `pip install 'minimax-jax[plots]'` "
            "(or `pip install matplotlib`)."
        ) from e
    return matplotlib


def _axes(ax: Any) -> Any:
    """`ax`, or the axes of a new figure (the only place pyplot is used)."""
    _matplotlib()
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots()[1]


def _trajectory(label: Any, trajectory: Any, ts: Any = None) -> tuple[Any, np.ndarray | None]:
    """`(xs, ys)` and the steps of its rows: a `Solution` gives its own (rows never reached,
    `ts == -1`, are dropped), a pair gives `ts` as passed."""
    name = f"trajectories[{label!r}]"
    if isinstance(trajectory, Solution):
        reached = np.asarray(trajectory.ts) >= 0
        rows = check_pair(
            f"{name}.trajectory",
            trajectory.trajectory,
            "`(xs, ys)` of players",
            ": the Solution of a run recorded with `save=` holds what `save` returns, not the "
            "players; run without `save=` to draw its path",
        )
        rows = tuple(_take(player, reached) for player in rows)
        return rows, np.asarray(trajectory.ts)[reached] if ts is None else ts
    hint = " (e.g. `sol.trajectory`) or a `minimax.Solution`"
    return check_pair(name, trajectory, "`(xs, ys)`", hint), ts


def _take(tree: Any, rows: np.ndarray) -> Any:
    import jax

    return jax.tree.map(lambda a: a[rows] if hasattr(a, "shape") and a.ndim else a, tree)


def _check_named(trajectories: Any, what: str) -> None:
    if not isinstance(trajectories, Mapping) or not trajectories:
        raise TypeError(f"`{what}` must be a non-empty dict from a label to a trajectory.")


def phase_portrait(
    trajectories: Mapping[str, Any],
    equilibrium: Any = None,
    *,
    coords: tuple[int, int] = (0, 0),
    ax: Any = None,
) -> Any:
    """Draw several runs on one game in the plane of one coordinate of each player: a line per
    run (coordinate `coords[0]` of player 0 across, `coords[1]` of player 1 up), a dot at the
    start (in each run's colour, or black when they share it) and a star at the equilibrium.

    **Arguments:**

    - `trajectories`: `{label: trajectory}`, each a `(xs, ys)` recorded every step
      (`sol.trajectory`) or a [`minimax.Solution`][].
    - `equilibrium`: `(x*, y*)` to mark, or None.
    - `coords`: which coordinate of each player, as indices into the player's floating-point
      leaves flattened in order (`(0, 0)` for scalar players).
    - `ax`: matplotlib axes to draw on; by default a new figure's.

    **Returns:** the axes: one line per run in `ax.lines`, in order; the markers are scatter
    collections in `ax.collections` (the starts, one if every run starts at the same point,
    then the equilibrium).
    """
    _check_named(trajectories, "trajectories")
    i, j = check_pair("coords", coords, "of ints `(i, j)`")
    if equilibrium is not None:
        equilibrium = check_pair("equilibrium", equilibrium, "`(x*, y*)`", " or None")
    ax = _axes(ax)
    starts, sizes = [], None
    for label, trajectory in trajectories.items():
        (xs, ys), _ = _trajectory(label, trajectory)
        names = (f"trajectories[{label!r}][0]", f"trajectories[{label!r}][1]")
        flat = tuple(np.asarray(_flat(p, True, n)) for p, n in zip((xs, ys), names, strict=True))
        sizes = sizes or tuple(f.shape[1] for f in flat)
        u, v = _coordinate(flat[0], i, 0), _coordinate(flat[1], j, 1)
        (line,) = ax.plot(u, v, label=label, lw=1.2)
        starts.append((u[0], v[0], line.get_color()))
    if all((u, v) == starts[0][:2] for u, v, _ in starts):  # one start, shared by every run
        starts = [(*starts[0][:2], "black")]
    for n, (u, v, color) in enumerate(starts):
        label = "start" if n == 0 else None
        ax.scatter([u], [v], marker="o", s=30, color=color, zorder=3, label=label)
    if equilibrium is not None:
        names = ("equilibrium[0]", "equilibrium[1]")
        flat = tuple(
            np.asarray(_flat(p, False, n)) for p, n in zip(equilibrium, names, strict=True)
        )
        u, v = _coordinate(flat[0], i, 0), _coordinate(flat[1], j, 1)
        ax.scatter([u], [v], marker="*", s=160, color="black", zorder=4, label="equilibrium")
    ax.set_xlabel("x" if sizes[0] == 1 else f"x[{i}]")
    ax.set_ylabel("y" if sizes[1] == 1 else f"y[{j}]")
    ax.legend(fontsize="small")
    return ax


def _coordinate(flat: np.ndarray, index: int, which: int) -> np.ndarray:
    size = flat.shape[-1]
    if not -size <= index < size:
        raise IndexError(f"`coords[{which}]` = {index}, but player {which} has {size} coordinates.")
    return flat[..., index]


def distance_curves(
    trajectories: Mapping[str, Any],
    equilibrium: Any,
    *,
    ts: Shaped[ArrayLike, " rows"] | None = None,
    relative: bool = False,
    ax: Any = None,
) -> Any:
    r"""Draw the distance to the equilibrium, $|z_t - z^*|$ over both players
    ([`minimax.distance`][]), against the step, on a log scale: one line per run.

    **Arguments:**

    - `trajectories`: `{label: trajectory}`, each a `(xs, ys)` (`sol.trajectory`) or a
      [`minimax.Solution`][].
    - `equilibrium`: `(x*, y*)`.
    - `ts`: the step of each recorded row, shared by all runs; by default a `Solution`'s own
      `ts`, and `0, 1, 2, ...` for a bare trajectory.
    - `relative`: divide each curve by its starting distance.
    - `ax`: matplotlib axes to draw on; by default a new figure's.

    **Returns:** the axes, one line per run in `ax.lines`. Zero distances are left out (a log
    scale cannot show them).
    """
    _check_named(trajectories, "trajectories")
    ax = _axes(ax)
    for label, trajectory in trajectories.items():
        players, steps = _trajectory(label, trajectory, ts)
        d = np.linalg.norm(np.asarray(_offsets(players, equilibrium), dtype=float), axis=1)
        steps = np.arange(d.shape[0]) if steps is None else np.asarray(steps)
        if steps.shape != d.shape:
            raise ValueError(f"`ts` has shape {steps.shape} but {label!r} has {d.shape[0]} rows.")
        if relative:
            if d[0] == 0:
                raise ValueError(
                    f"`relative=True` divides by the starting distance, but run {label!r} starts "
                    "at the equilibrium (distance 0); draw it with `relative=False`."
                )
            d = d / d[0]
        ax.plot(steps, np.where(d > 0, d, np.nan), label=label, lw=1.2)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("|z_t - z*| / |z_0 - z*|" if relative else "|z_t - z*|")
    ax.legend(fontsize="small")
    return ax


def eigenvalues(
    rates: Mapping[str, LinearisedRate | Shaped[ArrayLike, " d"]],
    *,
    ax: Any = None,
) -> Any:
    """Draw eigenvalues in the complex plane against the unit circle: inside it an update rule
    converges locally, outside it diverges.

    **Arguments:**

    - `rates`: `{label: rate}`, each a [`minimax.LinearisedRate`][] (its `eigenvalues`, those of
      the Jacobian of `steps` steps) or an array of complex eigenvalues.
    - `ax`: matplotlib axes to draw on; by default a new figure's.

    **Returns:** the axes: the unit circle is a patch in `ax.patches`, each rule's eigenvalues
    a scatter collection in `ax.collections`, in order.
    """
    _check_named(rates, "rates")
    matplotlib = _matplotlib()
    ax = _axes(ax)
    circle = matplotlib.patches.Circle(
        (0, 0), 1.0, fill=False, ls="--", lw=1, color="grey", label="|λ| = 1"
    )
    ax.add_patch(circle)
    markers = "oxs^v+D*<>"
    for n, (label, rate) in enumerate(rates.items()):
        values = rate.eigenvalues if isinstance(rate, LinearisedRate) else rate
        values = np.asarray(values).astype(complex).ravel()
        ax.scatter(values.real, values.imag, marker=markers[n % len(markers)], s=28, label=label)
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_aspect("equal", adjustable="datalim")
    ax.autoscale_view()
    ax.set_xlabel("Re λ")
    ax.set_ylabel("Im λ")
    ax.legend(fontsize="small")
    return ax


def stability_map(
    xs: Float[ArrayLike, " nx"],
    ys: Float[ArrayLike, " ny"],
    radii: Float[ArrayLike, "nx ny"],
    *,
    xlabel: str,
    ylabel: str,
    colorbar: bool = True,
    ax: Any = None,
) -> Any:
    """Draw a heat map of the spectral radius over a grid of two hyperparameters, with the
    contour radius = 1 between where the rule converges (below) and where it diverges (above).

    **Arguments:**

    - `xs`, `ys`: the grid's values across and up (e.g. learning rates and `beta`), increasing.
    - `radii`: `radii[i, j]` at `(xs[i], ys[j])`, e.g. from nested `jax.vmap`s of
      [`minimax.linearised_rate`][]`(...).radius`, the outer over `xs`. Non-finite values are
      left blank.
    - `xlabel`, `ylabel`: the axes' labels.
    - `colorbar`: add a colour bar beside the axes.
    - `ax`: matplotlib axes to draw on; by default a new figure's.

    **Returns:** the axes: the heat map and the contour (when the radius crosses 1 on the grid)
    are in `ax.collections`.
    """
    ax = _axes(ax)
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    radii = np.asarray(radii, dtype=float)
    if xs.ndim != 1 or ys.ndim != 1 or radii.shape != (xs.size, ys.size):
        raise ValueError(
            f"`radii` must have shape (len(xs), len(ys)) = ({xs.size}, {ys.size}) with "
            f"`radii[i, j]` at `(xs[i], ys[j])`; got {radii.shape}."
        )
    grid = np.ma.masked_invalid(radii.T)  # rows up, columns across
    mesh = ax.pcolormesh(xs, ys, grid, shading="nearest", cmap="viridis")
    finite = radii[np.isfinite(radii)]
    if finite.size and finite.min() < 1 < finite.max():
        contour = ax.contour(xs, ys, grid, levels=[1.0], colors="white", linewidths=1.5)
        ax.clabel(contour, fmt={1.0: "ρ = 1"}, fontsize="small")
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, label="spectral radius per step")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax
