"""Two-player games: each player minimises its own loss."""

import abc
import inspect
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import PRNGKeyArray, PyTree, Scalar

from .checks import check_callable

Players = tuple[PyTree, PyTree]


def as_players(players: Any) -> Players:
    """`players` as a pair `(x, y)`, with a bare Python number taken as a float array; a clear
    error unless each player has floating-point arrays to train (see [`minimax.split_players`][])
    and no model state inside it."""
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
        is_state = lambda leaf: isinstance(leaf, eqx.nn.State)  # noqa: E731
        if any(is_state(leaf) for leaf in jax.tree.leaves(player, is_leaf=is_state)):
            raise TypeError(
                f"`players`: player {name} holds an `eqx.nn.State`. Layers' state (BatchNorm's "
                "statistics, SpectralNorm's vectors) is not trained: pass it to "
                "`minimax.solve(..., model_state=state)` and keep the players to the layers."
            )
        if not jax.tree.leaves(split_players((player, None))[0]):
            raise TypeError(
                f"`players`: player {name} has no floating-point arrays to train (got "
                f"{player!r}); give it as JAX or NumPy arrays, e.g. `jnp.asarray(x, float)`."
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


def _call(fn: Callable, who: str, x, y, args, key, model_state=None):
    # Deterministic losses keep the plain signature; stochastic ones receive `key=`, and
    # stateful ones `model_state=` (then they return `(loss, new_model_state)`).
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
    kwargs = {} if key is None else {"key": key}
    if model_state is not None:
        kwargs["model_state"] = model_state
    return fn(x, y, args, **kwargs)


def _needs_key(fn: Callable) -> bool:
    key = inspect.signature(fn).parameters.get("key")
    return key is not None and key.default is inspect.Parameter.empty


def _is_trainable(leaf: Any) -> bool:
    if isinstance(leaf, eqx.nn.StateIndex):  # where a stateful layer keeps its initial state
        return False
    if eqx.is_array(leaf) and jnp.issubdtype(leaf.dtype, jnp.complexfloating):
        raise TypeError(
            f"`players` has a complex array (dtype {leaf.dtype}): minimax trains real "
            "floating-point arrays only (JAX's gradient of a real loss with respect to a complex "
            "input is the conjugate of the descent direction). Split it into real and imaginary "
            "parts, e.g. `(z.real, z.imag)`."
        )
    return eqx.is_inexact_array(leaf)


def split_players(players: Players) -> tuple[Players, Players]:
    """`(params, static)`: the players' trainable leaves, and the rest (`eqx.combine` joins them).

    This is the one definition of what is trained: the floating-point arrays, except those of
    an `eqx.nn.StateIndex` (a stateful layer's initial state, see `model_state` in
    [`minimax.solve`][]). Integer and boolean arrays, functions and other leaves pass through
    untouched. Complex arrays are refused."""
    is_index = lambda leaf: isinstance(leaf, eqx.nn.StateIndex)  # noqa: E731
    return eqx.partition(tuple(players), _is_trainable, is_leaf=is_index)


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
        `optax.projections.projection_simplex` turns float32 into float64 when x64 is on). A
        point holding NaN or inf projects to NaN: a projection that would clean it up (`clip`,
        `nan_to_num`) must not hide a failed step."""
        fn = self.project[player]
        if fn is None:
            return value
        projected = fn(value)
        if jax.tree.structure(projected) != jax.tree.structure(value):
            raise TypeError(
                f"`project[{player}]` must return a player of the same PyTree structure as it is "
                f"given: got {jax.tree.structure(projected)} for {jax.tree.structure(value)}."
            )
        finite = jnp.array(True)
        for leaf in jax.tree.leaves(value):
            if eqx.is_inexact_array(leaf):
                finite = finite & jnp.isfinite(leaf).all()

        def match(new, old):
            if not eqx.is_inexact_array(old):
                return new
            if jnp.shape(new) != old.shape:
                raise ValueError(
                    f"`project[{player}]` must keep each array's shape: it turned shape "
                    f"{old.shape} into {jnp.shape(new)}."
                )
            return jnp.where(finite, jnp.asarray(new, old.dtype), jnp.nan)

        return jax.tree.map(match, projected, value)

    def projection(self, players: Players) -> Players:
        """Both players projected onto their feasible sets."""
        return tuple(self.project_player(i, p) for i, p in enumerate(players))

    @abc.abstractmethod
    def losses(
        self,
        players: Players,
        args: Any = None,
        key: PRNGKeyArray | None = None,
        *,
        model_state: PyTree = None,
    ) -> tuple[Scalar, Scalar] | tuple[tuple[Scalar, Scalar], PyTree]:
        """The two players' losses `(loss0, loss1)` at `players = (x, y)`; with a
        `model_state` (a game whose players have stateful layers), `((loss0, loss1),
        new_model_state)`. A game without model state may leave `model_state` out of its
        signature: it is passed only when given."""

    @abc.abstractmethod
    def field(
        self,
        params: Players,
        static: Players,
        args: Any = None,
        key: PRNGKeyArray | None = None,
        *,
        model_state: PyTree = None,
    ) -> Players | tuple[Players, PyTree]:
        """`F` as a function of the trainable arrays alone: `params` and `static` are the two
        halves of [`minimax.split_players`][]`(players)`; with a `model_state`, `(F,
        new_model_state)` from one forward pass. Rules that differentiate the field
        (consensus, SGA, CGD) take its Jacobian through this; the model state is carried
        alongside, never differentiated."""

    @abc.abstractmethod
    def equilibrium(self, near: Players | None = None) -> Players:
        """An equilibrium `(x*, y*)` in closed form: where there are many, the one nearest
        `near` (the minimum-norm one if `near` is None); `near` is ignored where it is unique.
        Raises `NotImplementedError` for a game with no known closed form."""

    def vector_field(
        self,
        players: Players,
        args: Any = None,
        key: PRNGKeyArray | None = None,
        *,
        model_state: PyTree = None,
    ) -> Players | tuple[Players, PyTree]:
        """The pair `F(x, y)`: each player's gradient of its own loss, at the same point
        (non-trainable leaves are `None`); with a `model_state`, `(F, new_model_state)`."""
        field, new_state = field_and_state(self, *split_players(players), args, key, model_state)
        return _with_state(field, new_state, model_state)

    def gradient(
        self,
        player: int,
        players: Players,
        args: Any = None,
        key: PRNGKeyArray | None = None,
        *,
        model_state: PyTree = None,
    ) -> PyTree | tuple[PyTree, PyTree]:
        """The gradient of player `player`'s (0 or 1) own loss with respect to its trainable
        leaves, the other player held fixed (non-trainable leaves are `None`); with a
        `model_state`, `(gradient, new_model_state)`."""
        params, static = split_players(players)

        def own_loss(own):
            pair = (own, params[1]) if player == 0 else (params[0], own)
            losses, new_state = losses_and_state(
                self, eqx.combine(pair, static), args, key, model_state
            )
            return losses[player], new_state

        grad, new_state = jax.grad(own_loss, has_aux=True)(params[player])
        return grad if model_state is None else (grad, new_state)


def losses_and_state(
    game: AbstractGame, players: Players, args: Any, key: Any, model_state: PyTree
) -> tuple[tuple[Scalar, Scalar], PyTree]:
    """`((loss0, loss1), new_model_state)` whether or not the game has a model state (`None`
    in, `None` out): the one place that tells the two signatures apart."""
    if model_state is None:
        return game.losses(players, args, key), None
    return game.losses(players, args, key, model_state=model_state)


def field_and_state(
    game: AbstractGame, params: Players, static: Players, args: Any, key: Any, model_state: PyTree
) -> tuple[Players, PyTree]:
    """`(F, new_model_state)` whether or not the game has a model state, for the rules that
    differentiate the field (with `has_aux=True`)."""
    if model_state is None:
        return game.field(params, static, args, key), None
    return game.field(params, static, args, key, model_state=model_state)


def _with_state(value: Any, new_state: PyTree, model_state: PyTree) -> Any:
    return value if model_state is None else (value, new_state)


class AbstractGeneralSumGame(AbstractGame):
    """A game given by both players' losses; subclasses implement `losses` and `equilibrium`."""

    def field(self, params, static, args=None, key=None, *, model_state=None):
        # One forward pass, pulled back twice: a GAN's generator runs once, not once per player.
        def losses(p):
            return losses_and_state(self, eqx.combine(p, static), args, key, model_state)

        (l0, l1), pull_back, new_state = jax.vjp(losses, params, has_aux=True)
        (grad0,) = pull_back((jnp.ones_like(l0), jnp.zeros_like(l1)))
        (grad1,) = pull_back((jnp.zeros_like(l0), jnp.ones_like(l1)))
        return _with_state((grad0[0], grad1[1]), new_state, model_state)


class AbstractZeroSumGame(AbstractGame):
    r"""A zero-sum game $\min_x \max_y f(x, y)$: `loss0 = f`, `loss1 = -f`. Subclasses implement
    `value` and `equilibrium`; both players' gradients come from one backward pass of `value`.
    A game with a model state has `value(x, y, args, key, *, model_state)` return `(f,
    new_model_state)`."""

    @abc.abstractmethod
    def value(
        self, x: PyTree, y: PyTree, args: Any = None, key: PRNGKeyArray | None = None
    ) -> Scalar:
        """`f(x, y)`, which `x` minimises and `y` maximises."""

    def _value_and_state(self, players, args, key, model_state):
        if model_state is None:
            return self.value(*players, args, key), None
        return self.value(*players, args, key, model_state=model_state)

    def losses(self, players, args=None, key=None, *, model_state=None):
        f, new_state = self._value_and_state(players, args, key, model_state)
        return _with_state((f, -f), new_state, model_state)

    def field(self, params, static, args=None, key=None, *, model_state=None):
        def value(p):
            return self._value_and_state(eqx.combine(p, static), args, key, model_state)

        (gx, gy), new_state = jax.grad(value, has_aux=True)(params)
        return _with_state((gx, jax.tree.map(jnp.negative, gy)), new_state, model_state)


def _no_closed_form(game: AbstractGame):
    raise NotImplementedError(
        f"A {type(game).__name__} defined by functions has no closed-form equilibrium; compute "
        "one (e.g. a long run of minimax.solve) or subclass it and implement `equilibrium`."
    )


def _loss(value: Any, who: str, model_state: PyTree) -> Any:
    if model_state is None:
        return _scalar(value, who)
    if not (isinstance(value, tuple) and len(value) == 2):
        raise TypeError(
            f"With a `model_state`, `{who}` must return `(loss, new_model_state)`, got "
            f"{type(value).__name__}."
        )
    return _scalar(value[0], who), value[1]


class ZeroSumGame(AbstractZeroSumGame):
    r"""A zero-sum game $\min_x \max_y f(x, y)$ given by a function.

    **Arguments:**

    - `fn`: `fn(x, y, args) -> scalar`; `fn(x, y, args, *, key) -> scalar` for a stochastic
      game (then pass `key` to [`minimax.solve`][] or to the solver's `step`); with stateful
      layers, `fn(x, y, args, *, model_state) -> (scalar, new_model_state)` (then pass
      `model_state` to [`minimax.solve`][]).

    ```python
    >>> import jax.numpy as jnp, minimax as mx
    >>> game = mx.ZeroSumGame(lambda x, y, args: x * y)
    >>> gx, gy = game.vector_field((jnp.array(2.0), jnp.array(3.0)))
    >>> print(gx, gy)  # (d/dx xy, -d/dy xy)
    3.0 -2.0

    ```
    """

    fn: Callable

    def value(self, x, y, args=None, key=None, *, model_state=None):
        return _loss(_call(self.fn, "fn", x, y, args, key, model_state), "fn", model_state)

    def equilibrium(self, near=None):
        _no_closed_form(self)


class GeneralSumGame(AbstractGeneralSumGame):
    """A general-sum game: player 0 minimises `loss0(x, y, args)` over `x`, player 1 minimises
    `loss1(x, y, args)` over `y`. Stochastic losses take a `key=` keyword, as in
    [`minimax.ZeroSumGame`][]; with stateful layers each takes `model_state=` and returns
    `(loss, new_model_state)`, and the state `loss0` returns is passed to `loss1`.
    """

    loss0: Callable
    loss1: Callable

    def losses(self, players, args=None, key=None, *, model_state=None):
        out0 = _loss(
            _call(self.loss0, "loss0", *players, args, key, model_state), "loss0", model_state
        )
        if model_state is None:
            return out0, _scalar(_call(self.loss1, "loss1", *players, args, key), "loss1")
        out1 = _loss(_call(self.loss1, "loss1", *players, args, key, out0[1]), "loss1", out0[1])
        return (out0[0], out1[0]), out1[1]

    def equilibrium(self, near=None):
        _no_closed_form(self)
