"""minimax.plot draws what it says, on the axes it is given, and names the extra when matplotlib
is missing."""

import importlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import minimax as mx

matplotlib = pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402

import minimax.plot as mxp  # noqa: E402

XY = mx.ZeroSumGame(lambda x, y, args: x * y)
ORIGIN = (jnp.array(0.0), jnp.array(0.0))
START = (jnp.array(1.0), jnp.array(0.5))


def _axes():
    return Figure().add_subplot()  # an Agg canvas, no pyplot state


@pytest.fixture(scope="module")
def runs():
    steps = 40
    return {
        "GDA": mx.solve(XY, mx.Simultaneous(optax.sgd(0.2)), START, steps=steps),
        "OGDA": mx.solve(XY, mx.Simultaneous(mx.optimistic_gradient(0.2)), START, steps=steps),
    }


def test_phase_portrait(runs):
    ax = _axes()
    trajectories = {"GDA": runs["GDA"].trajectory, "OGDA": runs["OGDA"]}  # both kinds accepted
    assert mxp.phase_portrait(trajectories, ORIGIN, ax=ax) is ax
    assert [line.get_label() for line in ax.lines] == ["GDA", "OGDA"]
    gda = ax.lines[0].get_xydata()
    np.testing.assert_allclose(gda[:, 0], runs["GDA"].trajectory[0])
    np.testing.assert_allclose(gda[:, 1], runs["GDA"].trajectory[1])
    start, equilibrium = ax.collections  # one start, shared by both runs
    np.testing.assert_allclose(start.get_offsets(), [[1.0, 0.5]])
    np.testing.assert_allclose(equilibrium.get_offsets(), [[0.0, 0.0]])
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "y")


def test_phase_portrait_coords_of_vector_players():
    xs = jnp.arange(12.0).reshape(4, 3)  # 4 steps of a 3-vector
    ys = {"a": jnp.zeros((4, 1)), "b": -jnp.arange(8.0).reshape(4, 2)}  # flattened: a, b0, b1
    ax = mxp.phase_portrait({"run": (xs, ys)}, coords=(2, 2), ax=_axes())
    np.testing.assert_allclose(ax.lines[0].get_xydata(), np.stack([xs[:, 2], ys["b"][:, 1]], 1))
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x[2]", "y[2]")
    # Two starts, each in its run's colour; no equilibrium.
    shifted = (xs + 1, ys)
    ax = mxp.phase_portrait({"run": (xs, ys), "shifted": shifted}, coords=(2, 2), ax=_axes())
    assert len(ax.collections) == 2
    np.testing.assert_allclose(ax.collections[1].get_offsets(), [[3.0, -1.0]])
    np.testing.assert_allclose(
        ax.collections[1].get_facecolor()[0][:3], matplotlib.colors.to_rgb(ax.lines[1].get_color())
    )
    with pytest.raises(IndexError, match="player 1 has 3 coordinates"):
        mxp.phase_portrait({"run": (xs, ys)}, coords=(0, 3), ax=_axes())


def test_distance_curves(runs):
    ax = mxp.distance_curves(runs, ORIGIN, ax=_axes())
    assert ax.get_yscale() == "log"
    assert len(ax.lines) == 2
    steps, d = ax.lines[1].get_xydata().T
    np.testing.assert_array_equal(steps, np.arange(41))
    np.testing.assert_allclose(d, mx.distance(runs["OGDA"].trajectory, ORIGIN))
    # Relative, with explicit steps; a zero distance is left out rather than drawn at -inf.
    trajectory = (jnp.array([2.0, 1.0, 0.0]), jnp.zeros(3))
    ax = mxp.distance_curves({"line": trajectory}, ORIGIN, ts=np.array([0, 10, 20]), relative=True)
    steps, d = ax.lines[0].get_xydata().T
    np.testing.assert_array_equal(steps, [0, 10, 20])
    np.testing.assert_allclose(d, [1.0, 0.5, np.nan])
    with pytest.raises(ValueError, match="`ts` has shape"):
        mxp.distance_curves({"line": trajectory}, ORIGIN, ts=np.arange(4), ax=_axes())


def test_eigenvalues():
    rate = mx.linearised_rate(mx.Simultaneous(mx.optimistic_gradient(0.2)), XY, ORIGIN)
    ax = mxp.eigenvalues({"OGDA": rate, "GDA": np.array([1 + 0.2j, 1 - 0.2j])}, ax=_axes())
    (circle,) = ax.patches
    assert circle.get_radius() == 1.0 and tuple(circle.center) == (0.0, 0.0)
    ogda, gda = ax.collections
    np.testing.assert_allclose(
        ogda.get_offsets(), np.stack([rate.eigenvalues.real, rate.eigenvalues.imag], 1)
    )
    np.testing.assert_allclose(gda.get_offsets(), [[1, 0.2], [1, -0.2]])
    assert np.all(np.abs(rate.eigenvalues) < 1)


def test_stability_map():
    lrs, betas = jnp.linspace(0.05, 1.0, 12), jnp.linspace(0.0, 2.0, 9)

    def radius(lr, beta):
        return mx.linearised_rate(
            mx.Simultaneous(mx.optimistic_gradient(lr, beta=beta)), XY, ORIGIN
        )

    radii = jax.vmap(lambda lr: jax.vmap(lambda b: radius(lr, b).radius)(betas))(lrs)
    ax = _axes()
    assert mxp.stability_map(lrs, betas, radii, xlabel="lr", ylabel="beta", ax=ax) is ax
    mesh, contour = ax.collections
    np.testing.assert_allclose(mesh.get_array().reshape(9, 12), radii.T)  # rows are betas
    np.testing.assert_array_equal(contour.levels, [1.0])
    assert len(contour.get_paths()[0].vertices) > 1  # the contour is drawn
    assert len(ax.figure.axes) == 2  # the colour bar's axes
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("lr", "beta")
    # All stable: no contour, and no warning about it.
    ax = mxp.stability_map(lrs, betas, 0.5 * np.ones((12, 9)), xlabel="a", ylabel="b", ax=_axes())
    assert len(ax.collections) == 1
    # Transposed: a clear error (from jaxtyping's checks under pytest, else from the function).
    with pytest.raises((TypeError, ValueError), match="radii"):
        mxp.stability_map(lrs, betas, radii.T, xlabel="lr", ylabel="beta", ax=_axes())


def test_new_figure_when_no_axes(runs):
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = mxp.distance_curves(runs, ORIGIN)
    assert len(ax.lines) == 2
    plt.close(ax.figure)


def test_bad_arguments():
    with pytest.raises(TypeError, match="non-empty dict"):
        mxp.phase_portrait({}, ax=_axes())
    with pytest.raises(TypeError, match=r"`trajectories\[.a.\]` must be a pair `\(xs, ys\)`"):
        mxp.distance_curves({"a": jnp.zeros(3)}, ORIGIN, ax=_axes())


def test_without_matplotlib(monkeypatch):
    """The module imports without matplotlib; calling a function names the extra to install."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    module = importlib.reload(mxp)
    try:
        with pytest.raises(ImportError, match=r"pip install 'minimax-jax\[plots\]'"):
            module.eigenvalues({"a": np.array([0.5j])})
        with pytest.raises(ImportError, match="minimax-jax"):
            module.phase_portrait({"a": (jnp.zeros(2), jnp.zeros(2))}, ax=object())
    finally:
        monkeypatch.undo()
        importlib.reload(mxp)


def test_clear_errors_for_what_cannot_be_drawn(runs):
    recorded = mx.solve(
        XY, mx.Simultaneous(optax.sgd(0.2)), START, steps=3, save=lambda p, a: {"x": p[0]}
    )
    for draw in (mxp.phase_portrait, lambda t, ax: mxp.distance_curves(t, ORIGIN, ax=ax)):
        with pytest.raises(TypeError, match=r"trajectories\['saved'\].*recorded with `save=`"):
            draw({"saved": recorded}, ax=_axes())
    with pytest.raises(TypeError, match=r"`equilibrium` must be a pair `\(x\*, y\*\)` or None"):
        mxp.phase_portrait({"GDA": runs["GDA"]}, equilibrium=5.0, ax=_axes())
    with pytest.raises(TypeError, match=r"`equilibrium` must be a pair `\(x\*, y\*\)`"):
        mxp.distance_curves({"GDA": runs["GDA"]}, 5.0, ax=_axes())
    with pytest.raises(ValueError, match=r"trajectories\['final'\]\[0\]` must be recorded steps"):
        mxp.phase_portrait({"final": runs["GDA"].players}, ax=_axes())
    still = mx.solve(XY, mx.Simultaneous(optax.sgd(0.2)), ORIGIN, steps=3)
    with pytest.raises(ValueError, match="run 'still' starts at the equilibrium"):
        mxp.distance_curves({"still": still}, ORIGIN, relative=True, ax=_axes())
