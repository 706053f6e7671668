import abc
from typing import Any, Generic, TypeVar

import equinox as eqx
import jax.numpy as jnp
import optax
from jaxtyping import Array, Int, PRNGKeyArray, PyTree

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


class SolverState(eqx.Module):
    """State of the solvers that give each player an optax optimizer.

    **Fields:** `step`, the number of steps taken; `opt_states`, each player's optax state.
    """

    step: Int[Array, ""]
    opt_states: tuple[optax.OptState, optax.OptState]


class AbstractOptaxSolver(AbstractSolver[SolverState]):
    """A solver that moves each player with its own optax optimizer: `optimizer` for player 0
    (`x`), and `optimizer_max` for player 1 (`y`), or `optimizer` again if that is `None`.
    Subclasses decide where the gradients are taken."""

    optimizer: eqx.AbstractVar[optax.GradientTransformation]
    optimizer_max: eqx.AbstractVar[optax.GradientTransformation | None]

    def _optimizer(self, player: int) -> optax.GradientTransformation:
        return self.optimizer if player == 0 or self.optimizer_max is None else self.optimizer_max

    def init(
        self,
        game: AbstractGame,
        players: Players,
        args: Any = None,
        key: PRNGKeyArray | None = None,
    ) -> SolverState:
        params = eqx.filter(tuple(players), eqx.is_inexact_array)
        opt_states = tuple(self._optimizer(i).init(p) for i, p in enumerate(params))
        return SolverState(jnp.zeros([], jnp.int32), opt_states)

    def _move(
        self, player: int, players: Players, grad: PyTree, opt_state: optax.OptState
    ) -> tuple[PyTree, optax.OptState]:
        """Player `player` after one update from `grad`, and its new optimizer state."""
        own = players[player]
        updates, opt_state = self._optimizer(player).update(
            grad, opt_state, eqx.filter(own, eqx.is_inexact_array)
        )
        return eqx.apply_updates(own, updates), opt_state

    def _move_both(
        self, players: Players, grads: Players, state: SolverState
    ) -> tuple[Players, SolverState]:
        """Both players after one update from `grads`, and the next state."""
        (x, sx), (y, sy) = (self._move(i, players, grads[i], state.opt_states[i]) for i in (0, 1))
        return (x, y), SolverState(state.step + 1, (sx, sy))
