import abc
from typing import Any, Generic, TypeVar

import equinox as eqx
import optax
from jaxtyping import PRNGKeyArray, PyTree

from .._game import AbstractGame, Players, split_players
from .._misc import check_optimizer, check_solver
from .._results import RESULTS

State = TypeVar("State")


class AbstractSolver(eqx.Module, Generic[State]):
    """An update rule for both players of a game.

    A solver is used in two calls, which [`minimax.solve`][] runs in a compiled loop:

    - `state = solver.init(game, players, args, key)`
    - `players, state = solver.step(game, players, state, args, key)`

    and, after each step, `solver.result(state)`: a [`minimax.RESULTS`][] value that tells the
    driver whether the step succeeded (e.g. `linear_solve_failed`). A step that reports a failure
    is undone: the run stops at the point before it.

    The driver counts the steps (and draws step `t`'s key as `fold_in(key, t)`); a solver keeps
    in its state only what its update rule needs.

    On a constrained game (see [`minimax.AbstractGame`][]'s `project`) every point a solver
    forms, its iterates and the intermediate points at which it takes gradients, is projected
    onto the players' feasible sets. The starting point is the caller's: start from a feasible
    one (e.g. `game.projection(players)`).

    What `step` returns as `players` is what a run records and returns. A solver whose answer is
    not its last iterate (an average, lookahead's slow weights) returns that answer and keeps the
    iterate in its state, so `solve` records the right sequence and `sol.players` with
    `sol.state` still resume the run exactly.
    """

    @abc.abstractmethod
    def init(
        self,
        game: AbstractGame,
        players: Players,
        args: Any = None,
        key: PRNGKeyArray | None = None,
    ) -> State:
        """The solver's state before the first step."""

    @abc.abstractmethod
    def step(
        self,
        game: AbstractGame,
        players: Players,
        state: State,
        args: Any = None,
        key: PRNGKeyArray | None = None,
    ) -> tuple[Players, State]:
        """One update of both players; `key` is this step's randomness for a stochastic game."""

    @abc.abstractmethod
    def result(self, state: State) -> RESULTS:
        """Whether the step that produced `state` succeeded."""


class SolverState(eqx.Module):
    """State of the solvers that give each player an optax optimizer.

    **Fields:** `opt_states`, each player's optax state.
    """

    opt_states: tuple[optax.OptState, optax.OptState]


class AbstractOptaxSolver(AbstractSolver[SolverState]):
    r"""A solver that moves each player with its own optax optimizer; subclasses decide where
    the gradients are taken.

    On a constrained game every point formed is projected onto the player's feasible set
    (the game's `project`): a move is $x \leftarrow P_X\big(x + \mathrm{opt}(g)\big)$, so
    `optax.sgd` gives projected gradient descent-ascent, and look-ahead points (extra-gradient's
    $z_{t+1/2}$) are projected too. The optimizer is given the current, feasible point as its
    `params`; it may use them, as [`minimax.optimistic_multiplicative_weights`][] does to stay
    on the simplex by itself.

    **Arguments** (of every subclass):

    - `optimizer`: an optax `GradientTransformation` for player 0 (`x`), and for player 1 (`y`)
      too unless `optimizer_y` is given.
    - `optimizer_y`: an optax `GradientTransformation` for player 1 (`y`), optional.
    """

    # Checked by `__check_init__`, with a clearer message than a type checker's.
    optimizer: Any
    optimizer_y: Any = None

    def __check_init__(self):
        check_optimizer("optimizer", self.optimizer)
        if self.optimizer_y is not None:
            check_optimizer("optimizer_y", self.optimizer_y)

    def _optimizer(self, player: int) -> optax.GradientTransformation:
        return self.optimizer if player == 0 or self.optimizer_y is None else self.optimizer_y

    def init(
        self,
        game: AbstractGame,
        players: Players,
        args: Any = None,
        key: PRNGKeyArray | None = None,
    ) -> SolverState:
        params, _ = split_players(players)
        opt_states = tuple(self._optimizer(i).init(p) for i, p in enumerate(params))
        return SolverState(opt_states)

    def result(self, state: SolverState) -> RESULTS:
        return RESULTS.successful

    def _move(
        self,
        game: AbstractGame,
        player: int,
        players: Players,
        grad: PyTree,
        opt_state: optax.OptState,
    ) -> tuple[PyTree, optax.OptState]:
        """Player `player` after one update from `grad`, projected onto its feasible set (see
        [`minimax.AbstractGame.project_player`][]), and its new optimizer state."""
        own = players[player]
        updates, opt_state = self._optimizer(player).update(
            grad, opt_state, eqx.filter(own, eqx.is_inexact_array)
        )
        return game.project_player(player, eqx.apply_updates(own, updates)), opt_state

    def _move_both(
        self, game: AbstractGame, players: Players, grads: Players, state: SolverState
    ) -> tuple[Players, SolverState]:
        """Both players after one update from `grads` (each projected), and the next state."""
        (x, sx), (y, sy) = (
            self._move(game, i, players, grads[i], state.opt_states[i]) for i in (0, 1)
        )
        return (x, y), SolverState((sx, sy))


class AbstractWrapper(AbstractSolver[State]):
    """A solver that runs another, `solver`: its state keeps the inner solver's state as
    `inner`, and a step succeeds when the inner step did. Subclasses decide what to make of the
    inner iterates (slow weights, an average, a restart)."""

    solver: eqx.AbstractVar[Any]

    def __check_init__(self):
        check_solver("solver", self.solver)

    def result(self, state: State) -> RESULTS:
        return self.solver.result(state.inner)

    def _inner_init(
        self, game: AbstractGame, players: Players, args: Any, key: PRNGKeyArray | None
    ) -> tuple[Players, PyTree]:
        """The players' trainable arrays, and the inner solver's first state."""
        return split_players(players)[0], self.solver.init(game, players, args, key)

    def _inner_step(
        self,
        game: AbstractGame,
        iterate: Players,
        static: Players,
        inner: PyTree,
        args: Any,
        key: PRNGKeyArray | None,
    ) -> tuple[Players, PyTree]:
        """One inner step from the trainable arrays `iterate` (with `static`, the rest of the
        players): the new trainable arrays and the inner solver's new state."""
        new, inner = self.solver.step(game, eqx.combine(iterate, static), inner, args, key)
        return split_players(new)[0], inner
