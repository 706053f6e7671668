import abc
from typing import Any, Generic, TypeVar

import equinox as eqx
import jax.numpy as jnp
import optax
from jaxtyping import Array, Bool, PRNGKeyArray, PyTree

from .._game import AbstractGame, Players, split_players
from .._results import RESULTS
from ..checks import check_optimizer, check_solver

State = TypeVar("State")


class Step(eqx.Module, Generic[State]):
    """What a solver's `step` returns. It unpacks as `players, state = solver.step(...)`.

    **Fields:**

    - `players`: the new iterate.
    - `state`: the solver's new state.
    - `result`: a [`minimax.RESULTS`][] value: whether the step succeeded (e.g. a linear solve
      that did not converge). [`minimax.solve`][] undoes a step that failed and stops.
    - `stats`: what the step did, a dict of scalar counts (CG iterations, restarts), the same
      keys at every step; [`minimax.solve`][] sums them over a run into `sol.stats`.
    - `model_state`: the game's new model state (stateful layers), `None` without one.
    """

    players: Players
    state: State
    result: RESULTS = eqx.field(default_factory=lambda: RESULTS.successful)
    stats: dict[str, Any] = eqx.field(default_factory=dict)
    model_state: PyTree = None

    def __iter__(self):
        return iter((self.players, self.state))


class AbstractSolver(eqx.Module, Generic[State]):
    """An update rule for both players of a game.

    A solver is used in these calls, which [`minimax.solve`][] runs in a compiled loop:

    - `state = solver.init(game, players, args, key, model_state=...)`
    - `out = solver.step(game, players, state, args, key, model_state=...)`, a
      [`minimax.Step`][]: the new players and state (`players, state = out` unpacks them),
      the step's `result` and `stats`, and the game's new model state;
    - `done, result = solver.terminate(game, players, state, args)`: whether the run is done
      (a tolerance met, or proof that there is no solution), and its result;
    - `solver.answer(game, players, state, args)`: what the solver answers at this point (an
      average, a restart candidate); the iterate itself for most rules.

    The players a step returns are always the live iterate: what the next step starts from,
    what `sol.players` and `sol.state` resume. A wrapper whose answer is something else (an
    average, lookahead's slow weights) keeps it in its state and returns it from `answer`.

    The driver counts the steps (and draws step `t`'s key as `fold_in(key, t)`); a solver keeps
    in its state only what its update rule needs.

    **Model state.** A game whose players have stateful layers (BatchNorm, SpectralNorm) takes
    a `model_state` beside them. It never reaches an optimizer or a Jacobian: every evaluation
    of the game returns a new one, and a step returns the state of the evaluation that moves
    the players (each solver's docstring says which).

    On a constrained game (see [`minimax.AbstractGame`][]'s `project`) every point a solver
    forms, its iterates and the intermediate points at which it takes gradients, is projected
    onto the players' feasible sets. The starting point is the caller's: start from a feasible
    one (e.g. `game.projection(players)`).
    """

    @abc.abstractmethod
    def init(
        self,
        game: AbstractGame,
        players: Players,
        args: Any = None,
        key: PRNGKeyArray | None = None,
        *,
        model_state: PyTree = None,
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
        *,
        model_state: PyTree = None,
    ) -> Step[State]:
        """One update of both players; `key` is this step's randomness for a stochastic game."""

    def terminate(
        self, game: AbstractGame, players: Players, state: State, args: Any = None
    ) -> tuple[Bool[Array, ""], RESULTS]:
        """`(done, result)`: whether the run is done, and the result it ends with if it ends
        now. The default is never done, and `successful`: the run takes all its steps."""
        return jnp.array(False), RESULTS.successful

    def answer(
        self, game: AbstractGame, players: Players, state: State, args: Any = None
    ) -> Players:
        """What the solver answers at `players` (the live iterate) and `state`: the iterate
        itself, unless a subclass says otherwise."""
        return players


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
        *,
        model_state: PyTree = None,
    ) -> SolverState:
        params, _ = split_players(players)
        opt_states = tuple(self._optimizer(i).init(p) for i, p in enumerate(params))
        return SolverState(opt_states)

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
        params = split_players((own, None))[0][0]
        updates, opt_state = self._optimizer(player).update(grad, opt_state, params)
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
    `inner`; each step is one inner step, whose result, statistics and model state it passes
    on. Subclasses decide what to make of the inner iterates (slow weights, an average, a
    restart)."""

    solver: eqx.AbstractVar[Any]

    def __check_init__(self):
        check_solver("solver", self.solver)

    def terminate(self, game, players, state, args=None):
        return self.solver.terminate(game, players, state.inner, args)
