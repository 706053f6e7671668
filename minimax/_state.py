"""What a run carries from one call of `solve` to the next."""

from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Int, PRNGKeyArray, PyTree

from ._game import AbstractGame, Players
from ._solver import AbstractSolver


class RunState(eqx.Module):
    """Where a run stands: what [`minimax.solve`][] needs to continue it exactly.

    **Fields:**

    - `step`: how many steps have been taken since the start of the run (step `t` of a
      stochastic game draws `fold_in(key, t)`).
    - `solver`: the solver's own state (e.g. each player's optax state).
    - `model_state`: the game's model state (stateful layers' buffers), `None` without one.
    - `solver_name`: the type of the solver that made it, so that a state is never handed to
      another solver by mistake.
    """

    step: Int[Array, ""]
    solver: PyTree
    model_state: PyTree
    solver_name: str = eqx.field(static=True)


def initial_state(
    game: AbstractGame,
    solver: AbstractSolver,
    players: Players,
    args: Any = None,
    key: PRNGKeyArray | None = None,
    model_state: PyTree = None,
) -> RunState:
    """The state a run of `solver` from `players` starts in (step 0)."""
    return RunState(
        jnp.zeros([], jnp.int32),
        solver.init(game, players, args, key, model_state=model_state),
        model_state,
        type(solver).__qualname__,
    )
