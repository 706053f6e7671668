import abc
from typing import Any, Generic, TypeVar

import equinox as eqx
from jaxtyping import PRNGKeyArray

from .._game import AbstractGame, Players

State = TypeVar("State")


class AbstractSolver(eqx.Module, Generic[State]):
    """An update rule for both players of a game.

    A solver is used in two calls, which [`minimax.solve`][] runs in a compiled loop:

    - `state = solver.init(game, players, args, key)`
    - `players, state = solver.step(game, players, state, args, key)`

    Every state carries `step`, the number of steps taken, so that a run resumed from a saved
    state continues exactly (the driver draws step `t`'s key as `fold_in(key, t)`).
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
