"""Two-player games: each player minimises its own loss."""

import abc
import inspect
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import PRNGKeyArray, PyTree, Scalar

from ._misc import check_callable

Players = tuple[PyTree, PyTree]


def as_players(players: Any) -> Players:
    """`players` as a pair `(x, y)`, with a bare Python number taken as a float array; a clear
    error unless each player has floating-point arrays to train and no arrays of another kind."""
    if not isinstance(players, tuple | list) or len(players) != 2:
        raise TypeError(
            "`players` must be a pair `(x, y)`: player 0 (the minimiser) and player 1, "
            f"got {type(players).__name__}"
            + (f" of length {len(players)}." if isinstance(players, tuple | list) else ".")
        )
    pair = tuple(
        jnp.asarray(p, float) if isinstance(p, int | float) and not isinstance(p, bool) else p
        for p in players
    )
    for name, player in zip("xy", pair, strict=True):
        arrays = [leaf for leaf in jax.tree.leaves(player) if eqx.is_array(leaf)]
        for leaf in arrays:
            if not jnp.issubdtype(leaf.dtype, jnp.inexact):
                raise TypeError(
                    f"`players`: player {name} has an array of dtype {leaf.dtype}; players are "
                    "trained by gradients, so their arrays must be floating point "
                    "(e.g. `jnp.asarray(x, float)`)."
                )
        if not arrays:
            raise TypeError(
                f"`players`: player {name} has no arrays to train (got {player!r}); give it as "
                "JAX or NumPy arrays, e.g. `jnp.asarray(x, float)`."
            )
    return pair


def _scalar(value: Any, who: str) -> Scalar:
    shape = jnp.shape(value)
    if shape != ():
        raise ValueError(f"`{who}` must return a scalar loss, got an array of shape {shape}.")
    return value


def _takes_key(fn: Callable) -> bool | None:
    """Whether `fn` accepts a `key=` keyword (None when its signature cannot be read)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    return any(p.name == "key" or p.kind is p.VAR_KEYWORD for p in params)


def _call(fn: Callable, who: str, x, y, args, key):
    # Deterministic losses keep the plain signature; stochastic ones receive `key=`.
    takes_key = _takes_key(fn)
    if key is not None and takes_key is False:
        raise TypeError(
            f"A `key` was given, but the game's `{who}` takes no `key` keyword: it is "
            f"deterministic. Drop `key=`, or define `{who}(x, y, args, *, key)`."
        )
    if key is None and takes_key and _needs_key(fn):
        raise TypeError(
            f"The game's `{who}` needs a `key` (it is stochastic): pass `key=` to "
            "`minimax.solve` or to the solver's `step`."
        )
    return fn(x, y, args) if key is None else fn(x, y, args, key=key)


def _needs_key(fn: Callable) -> bool:
    key = inspect.signature(fn).parameters.get("key")
    return key is not None and key.default is inspect.Parameter.empty


def split_players(players: Players) -> tuple[Players, Players]:
    """`(params, static)`: the players' trainable (floating-point array) leaves, and the rest."""
    return eqx.partition(tuple(players), eqx.is_inexact_array)


class AbstractGame(eqx.Module):
    r"""A two-player game. Player 0 (`x`) minimises `loss0(x, y)`, player 1 (`y`) minimises
    `loss1(x, y)`. Players are any PyTrees (equinox modules included); their floating-point array
    leaves are what is trained (the *params*), every other leaf passes through untouched.

    Every solver follows the game's (simultaneous) gradient field

    $$F(x, y) = \big(\nabla_x \ell_0(x, y),\ \nabla_y \ell_1(x, y)\big).$$

    Subclass [`minimax.AbstractZeroSumGame`][] (implement `value`) or
    [`minimax.AbstractGeneralSumGame`][] (implement `losses`), and `equilibrium`. Stochastic games
    receive a PRNG `key`.

    Constraints belong to the game: `project = (project_x, project_y)` maps each player onto its
    feasible set (`None`: unconstrained), and every solver applies it wherever it forms a point:
    each iterate, and the intermediate points where gradients are taken (extra-gradient's
    look-ahead). Any function of a player works, e.g. `optax.projections.projection_simplex`;
    it receives the whole player (a PyTree, non-trainable leaves included) and returns one of
    the same structure. The starting point is the caller's (start feasible, e.g.
    `game.projection(players)`), and [`minimax.Averaging`][]'s average, a convex combination of
    projected points, is not projected again. An unconstrained game does no extra work.
    """

    # `(project_x, project_y)`, each a function or None; checked by `__check_init__`, with a
    # clearer message than a type checker's.
    project: Any = eqx.field(default=(None, None), kw_only=True, static=True)

    def __check_init__(self):
        if not isinstance(self.project, tuple) or len(self.project) != 2:
            raise TypeError(
                "`project` must be a pair `(project_x, project_y)` of functions or None, got "
                f"{self.project!r}."
            )
        for name, fn in zip(("project[0]", "project[1]"), self.project, strict=True):
            if fn is not None:
                check_callable(name, fn)

    def project_player(self, player: int, value: PyTree) -> PyTree:
        """Player `player` (0 or 1) projected onto its feasible set (unchanged if unconstrained).
        The projection's floating-point arrays are cast back to the player's dtypes (e.g.
        `optax.projections.projection_simplex` turns float32 into float64 when x64 is on)."""
        fn = self.project[player]
        if fn is None:
            return value
        projected = fn(value)
        if jax.tree.structure(projected) != jax.tree.structure(value):
            raise TypeError(
                f"`project[{player}]` must return a player of the same PyTree structure as it is "
                f"given: got {jax.tree.structure(projected)} for {jax.tree.structure(value)}."
            )

        def dtype_of(new, old):
            if eqx.is_inexact_array(old) and eqx.is_array(new) and new.dtype != old.dtype:
                return new.astype(old.dtype)
            return new

        return jax.tree.map(dtype_of, projected, value)

    def projection(self, players: Players) -> Players:
        """Both players projected onto their feasible sets."""
        return tuple(self.project_player(i, p) for i, p in enumerate(players))

    @abc.abstractmethod
    def losses(
        self, players: Players, args: Any = None, key: PRNGKeyArray | None = None
    ) -> tuple[Scalar, Scalar]:
        """The two players' losses `(loss0, loss1)` at `players = (x, y)`."""

    @abc.abstractmethod
    def field(
        self, params: Players, static: Players, args: Any = None, key: PRNGKeyArray | None = None
    ) -> Players:
        """`F` as a function of the trainable arrays alone: `params` and `static` are the two
        halves of [`minimax.split_players`][]`(players)`. Rules that differentiate the field
        (consensus, SGA, CGD) take its Jacobian through this."""

    @abc.abstractmethod
    def equilibrium(self, near: Players | None = None) -> Players:
        """An equilibrium `(x*, y*)` in closed form: where there are many, the one nearest
        `near` (the minimum-norm one if `near` is None); `near` is ignored where it is unique.
        Raises `NotImplementedError` for a game with no known closed form."""

    def vector_field(
        self, players: Players, args: Any = None, key: PRNGKeyArray | None = None
    ) -> Players:
        """The pair `F(x, y)`: each player's gradient of its own loss, at the same point
        (non-trainable leaves are `None`)."""
        return self.field(*split_players(players), args, key)

    def gradient(
        self, player: int, players: Players, args: Any = None, key: PRNGKeyArray | None = None
    ) -> PyTree:
        """The gradient of player `player`'s (0 or 1) own loss with respect to its trainable
        leaves, the other player held fixed (non-trainable leaves are `None`)."""
        params, static = split_players(players)

        def own_loss(own):
            pair = (own, params[1]) if player == 0 else (params[0], own)
            return self.losses(eqx.combine(pair, static), args, key)[player]

        return jax.grad(own_loss)(params[player])


class AbstractGeneralSumGame(AbstractGame):
    """A game given by both players' losses; subclasses implement `losses` and `equilibrium`."""

    def field(self, params, static, args=None, key=None):
        # One forward pass, pulled back twice: a GAN's generator runs once, not once per player.
        losses, pull_back = jax.vjp(
            lambda p: self.losses(eqx.combine(p, static), args, key), params
        )
        l0, l1 = losses
        (grad0,) = pull_back((jnp.ones_like(l0), jnp.zeros_like(l1)))
        (grad1,) = pull_back((jnp.zeros_like(l0), jnp.ones_like(l1)))
        return grad0[0], grad1[1]


class AbstractZeroSumGame(AbstractGame):
    r"""A zero-sum game $\min_x \max_y f(x, y)$: `loss0 = f`, `loss1 = -f`. Subclasses implement
    `value` and `equilibrium`; both players' gradients come from one backward pass of `value`."""

    @abc.abstractmethod
    def value(
        self, x: PyTree, y: PyTree, args: Any = None, key: PRNGKeyArray | None = None
    ) -> Scalar:
        """`f(x, y)`, which `x` minimises and `y` maximises."""

    def losses(self, players, args=None, key=None):
        f = self.value(*players, args, key)
        return f, -f

    def field(self, params, static, args=None, key=None):
        gx, gy = jax.grad(lambda p: self.value(*eqx.combine(p, static), args, key))(params)
        return gx, jax.tree.map(jnp.negative, gy)


def _no_closed_form(game: AbstractGame):
    raise NotImplementedError(
        f"A {type(game).__name__} defined by functions has no closed-form equilibrium; compute "
        "one (e.g. a long run of minimax.solve) or subclass it and implement `equilibrium`."
    )


class ZeroSumGame(AbstractZeroSumGame):
    r"""A zero-sum game $\min_x \max_y f(x, y)$ given by a function.

    **Arguments:**

    - `fn`: `fn(x, y, args) -> scalar`, or `fn(x, y, args, *, key) -> scalar` for a stochastic
      game (then pass `key` to [`minimax.solve`][] or to the solver's `step`).

    ```python
    >>> import jax.numpy as jnp, minimax as mx
    >>> game = mx.ZeroSumGame(lambda x, y, args: x * y)
    >>> gx, gy = game.vector_field((jnp.array(2.0), jnp.array(3.0)))
    >>> print(gx, gy)  # (d/dx xy, -d/dy xy)
    3.0 -2.0

    ```
    """

    fn: Callable

    def value(self, x, y, args=None, key=None):
        return _scalar(_call(self.fn, "fn", x, y, args, key), "fn")

    def equilibrium(self, near=None):
        _no_closed_form(self)


class GeneralSumGame(AbstractGeneralSumGame):
    """A general-sum game: player 0 minimises `loss0(x, y, args)` over `x`, player 1 minimises
    `loss1(x, y, args)` over `y`. Stochastic losses take a `key=` keyword, as in
    [`minimax.ZeroSumGame`][].
    """

    loss0: Callable
    loss1: Callable

    def losses(self, players, args=None, key=None):
        return (
            _scalar(_call(self.loss0, "loss0", *players, args, key), "loss0"),
            _scalar(_call(self.loss1, "loss1", *players, args, key), "loss1"),
        )

    def equilibrium(self, near=None):
        _no_closed_form(self)
