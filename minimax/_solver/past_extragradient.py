from typing import Any

import equinox as eqx
import optax
from jaxtyping import PRNGKeyArray, PyTree

from .._game import AbstractGame, Players, field_and_state, split_players
from .base import AbstractOptaxSolver, SolverState, Step


class PastExtraGradientState(eqx.Module):
    """State of [`minimax.PastExtraGradient`][].

    **Fields:**

    - `opt_states`: each player's optax state.
    - `gradient`: the field at the last extrapolated point, $F(z_{t-1/2})$, with which the next
      step extrapolates; $F(z_0)$ before the first step.
    """

    opt_states: tuple[optax.OptState, optax.OptState]
    gradient: Players


class PastExtraGradient(AbstractOptaxSolver):
    r"""Extra-gradient with extrapolation from the past (Popov 1980): extra-gradient's
    look-ahead, taken with the gradient of the *previous* look-ahead, so one evaluation of the
    game's [vector field][minimax.AbstractGame.vector_field] `F` per step,

    $$z_{t+1/2} = z_t + \mathrm{opt}\big(F(z_{t-1/2})\big), \qquad
    z_{t+1} = z_t + \mathrm{opt}\big(F(z_{t+1/2})\big),$$

    with $z_{-1/2} = z_0$: the first look-ahead uses $F(z_0)$, evaluated by `init`. This is the
    initialisation the convergence proofs assume, and with it, for `optax.sgd(eta)`, the
    extrapolated points $z_{t+1/2}$ are exactly the iterates of optimistic gradient
    descent-ascent, `Simultaneous(minimax.optimistic_gradient(eta))` with its fixed first step:
    $z_{t+3/2} = z_{t+1/2} - \eta\big(2F(z_{t+1/2}) - F(z_{t-1/2})\big)$. The players $z_t$ are
    what a run records; `solver.extrapolate(game, players, state)` gives the point $z_{t+1/2}$
    at which the next step will take its gradient.

    On a constrained game both points are projected onto the feasible set, as in Popov's
    method: $z_{t+1/2} = P\big(z_t + \mathrm{opt}(F(z_{t-1/2}))\big)$ and
    $z_{t+1} = P\big(z_t + \mathrm{opt}(F(z_{t+1/2}))\big)$. The identity with optimistic
    gradient holds only without constraints (projected OGDA projects
    $z_{t+1/2} - \eta\big(2F(z_{t+1/2}) - F(z_{t-1/2})\big)$, a different point).

    As in [`minimax.ExtraGradient`][], the look-ahead uses each optimizer's current state and
    discards the state it returns; only the second half-step updates it. So with `optax.sgd`
    both half-steps have step `eta`, and a stateful optimizer (Adam, momentum) sees each
    gradient once, in the update of `z_t`. A stochastic game's step uses its key for its one
    evaluation; `init` evaluates $F(z_0)$ with the key it is given (so a stochastic game needs
    one there too). Its model state is the one its evaluation returns (`init`'s is discarded).

    **Arguments:** `optimizer` and, optionally, `optimizer_y`, as in
    [`minimax.AbstractOptaxSolver`][].

    **References:** Popov (1980), *A modification of the Arrow-Hurwicz method for search of
    saddle points*; Gidel, Berard, Vignoud, Vincent, Lacoste-Julien (2019), *A variational
    inequality perspective on generative adversarial networks*, ICLR (extrapolation from the
    past).
    """

    def init(
        self,
        game: AbstractGame,
        players: Players,
        args: Any = None,
        key: PRNGKeyArray | None = None,
        *,
        model_state: PyTree = None,
    ) -> PastExtraGradientState:
        opt_states = super().init(game, players, args, key).opt_states
        field, _ = field_and_state(game, *split_players(players), args, key, model_state)
        return PastExtraGradientState(opt_states, field)

    def extrapolate(
        self, game: AbstractGame, players: Players, state: PastExtraGradientState
    ) -> Players:
        """The look-ahead $z_{t+1/2}$ from `players` $= z_t$ and the state before step `t`
        (projected, on a constrained `game`): where that step takes the game's gradient."""
        ahead, _ = self._move_both(game, players, state.gradient, SolverState(state.opt_states))
        return ahead

    def step(
        self,
        game: AbstractGame,
        players: Players,
        state: PastExtraGradientState,
        args: Any = None,
        key: PRNGKeyArray | None = None,
        *,
        model_state: PyTree = None,
    ) -> Step[PastExtraGradientState]:
        ahead = split_players(self.extrapolate(game, players, state))
        gradient, model_state = field_and_state(game, *ahead, args, key, model_state)
        players, moved = self._move_both(game, players, gradient, SolverState(state.opt_states))
        return Step(
            players, PastExtraGradientState(moved.opt_states, gradient), model_state=model_state
        )
