"""Optimistic gradient transformations with a correct first step: gradient, Adam and
multiplicative weights."""

from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Int

from .checks import check_choice, check_scalar

FirstStep = Literal["fixed", "legacy"]
_FIRST_STEPS = ("fixed", "legacy")


class OptimisticState(NamedTuple):
    """State of [`minimax.scale_by_optimistic`][].

    **Fields:**

    - `count`: how many updates have been made; schedules are evaluated at it (and it stops
      at 2^31 - 1 when they are given).
    - `previous`: the previous incoming direction `g_{t-1}` (zeros before the first update).
    """

    count: Int[Array, ""]
    previous: optax.Updates


def _at(schedule: optax.ScalarOrSchedule, count):
    return schedule(count) if callable(schedule) else schedule


def scale_by_optimistic(
    alpha: optax.ScalarOrSchedule = 1.0,
    beta: optax.ScalarOrSchedule = 1.0,
    *,
    first_step: FirstStep = "fixed",
) -> optax.GradientTransformation:
    r"""Turn an incoming direction `g_t` into the generalised optimistic direction

    $$u_t = (\alpha_t + \beta_t)\, g_t - \beta_t\, g_{t-1}
    = \alpha_t g_t + \beta_t (g_t - g_{t-1}).$$

    At `t = 0` there is no `g_{-1}`:

    - `first_step="fixed"` takes `g_{-1} = g_0`, so $u_0 = \alpha_0 g_0$ (the initialisation
      `z_{-1} = z_0` assumed by the convergence proofs; optax >= 0.2.4 does the same).
    - `first_step="legacy"` takes `g_{-1} = 0`, so $u_0 = (\alpha_0 + \beta_0) g_0$: the step of
      Daskalakis et al. (2018) and Gidel et al. (2019), $(\alpha + \beta) / \alpha$ times too large.

    It does not scale by a learning rate or flip the sign; chain it with
    `optax.scale_by_learning_rate`, as [`minimax.optimistic_gradient`][] does.

    **Arguments:**

    - `alpha`: weight of the current direction; a float or an optax schedule of the step count.
    - `beta`: weight of the correction `g_t - g_{t-1}`; a float or an optax schedule.
    - `first_step`: `"fixed"` or `"legacy"`, as above.
    """
    check_choice("first_step", first_step, _FIRST_STEPS)
    check_scalar("alpha", alpha, low=0, low_open=True, schedule=True)
    check_scalar("beta", beta, low=0, schedule=True)

    # Without schedules the count only marks the first update: a plain increment, which XLA
    # folds into a loop's own counter (10% of a small game's step) and which comes back to 0
    # only after 2^32 updates. Schedules read it, so there it saturates.
    schedules = callable(alpha) or callable(beta)
    increment = optax.safe_increment if schedules else lambda count: count + 1

    def init_fn(params):
        return OptimisticState(
            count=jnp.zeros([], jnp.int32), previous=optax.tree.zeros_like(params)
        )

    def update_fn(updates, state, params=None):
        del params
        alpha_t = _at(alpha, state.count)
        beta_t = _at(beta, state.count)
        first = state.count == 0

        def leaf(g, g_prev):
            a = jnp.asarray(alpha_t, g.dtype)
            b = jnp.asarray(beta_t, g.dtype)
            u = (a + b) * g - b * g_prev  # `g_prev` is zeros before the first update
            # Exactly `a * g` first, not a rounding of `(a + b) * g - b * g`. A select, since
            # the form `a * g + b * (g - g_prev)` measured 8-20% slower on XLA:CPU (a 1000 x 1000
            # bilinear game, benchmarks/overhead.py).
            return jnp.where(first, a * g, u) if first_step == "fixed" else u

        new_updates = jax.tree.map(leaf, updates, state.previous)
        return new_updates, OptimisticState(increment(state.count), updates)

    return optax.GradientTransformation(init_fn, update_fn)


def optimistic_gradient(
    learning_rate: optax.ScalarOrSchedule,
    alpha: optax.ScalarOrSchedule = 1.0,
    beta: optax.ScalarOrSchedule = 1.0,
    *,
    first_step: FirstStep = "fixed",
) -> optax.GradientTransformation:
    r"""Optimistic gradient descent (OGD), one player's half of OGDA.

    $$w_{t+1} = w_t - \eta_t \big((\alpha_t + \beta_t)\, g_t - \beta_t\, g_{t-1}\big),$$

    with `g_{-1} = g_0` (`first_step="fixed"`, first step $\eta_0 \alpha_0 g_0$) or `g_{-1} = 0`
    (`first_step="legacy"`, first step $\eta_0 (\alpha_0 + \beta_0) g_0$). With `alpha = beta = 1`
    this is Popov's past-extragradient method; `beta = 0` is plain gradient descent.

    Unlike `optax.optimistic_gradient_descent`, `alpha` and `beta` may be schedules.

    **Arguments:**

    - `learning_rate`: $\eta$, a positive float or an optax schedule.
    - `alpha`, `beta`: a positive and a non-negative float, or optax schedules.
    - `first_step`: `"fixed"` (default) or `"legacy"`.

    **Returns:** an `optax.GradientTransformation`.

    **References:** Popov (1980), *A modification of the Arrow-Hurwicz method for search of
    saddle points*; Mokhtari, Ozdaglar, Pattathil (2020), *A unified analysis of extra-gradient
    and optimistic gradient methods for saddle point problems*, AISTATS; optax issue 1082.

    ```python
    >>> import jax.numpy as jnp, minimax as mx
    >>> opt = mx.optimistic_gradient(0.1, alpha=1.0, beta=1.0)
    >>> state = opt.init(jnp.zeros(2))
    >>> first, state = opt.update(jnp.ones(2), state)
    >>> print(first)  # -lr * alpha * g_0, not -lr * (alpha + beta) * g_0
    [-0.1 -0.1]

    ```
    """
    check_scalar("learning_rate", learning_rate, low=0, low_open=True, schedule=True)
    return optax.chain(
        scale_by_optimistic(alpha, beta, first_step=first_step),
        optax.scale_by_learning_rate(learning_rate),
    )


def optimistic_adam(
    learning_rate: optax.ScalarOrSchedule,
    alpha: optax.ScalarOrSchedule = 1.0,
    beta: optax.ScalarOrSchedule = 1.0,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    *,
    nesterov: bool = True,
    first_step: FirstStep = "fixed",
) -> optax.GradientTransformation:
    r"""Optimistic Adam: Adam's direction fed to the optimistic rule.

    $$r_t = \hat m_t / (\sqrt{\hat v_t + \bar\epsilon} + \epsilon), \qquad
    w_{t+1} = w_t - \eta_t \big((\alpha_t + \beta_t)\, r_t - \beta_t\, r_{t-1}\big),$$

    where $\hat m_t, \hat v_t$ are Adam's bias-corrected moments. With `first_step="fixed"` this
    equals `optax.optimistic_adam_v2` with the same arguments; `"legacy"` uses `r_{-1} = 0`,
    whose first step is `(alpha + beta) / alpha` times larger: 1001x for `alpha = 1e-3`,
    `beta = 1`, the setting of Daskalakis et al. written as `learning_rate=1`.

    **Arguments:**

    - `learning_rate`, `alpha`, `beta`, `first_step`: as in [`minimax.optimistic_gradient`][].
    - `b1`, `b2`, `eps`, `eps_root`, `nesterov`: as in `optax.scale_by_adam`.

    **References:** Daskalakis, Ilyas, Syrgkanis, Zeng (2018), *Training GANs with optimism*, ICLR.
    """
    check_scalar("learning_rate", learning_rate, low=0, low_open=True, schedule=True)
    for name, value in (("b1", b1), ("b2", b2)):
        check_scalar(name, value, low=0, high=1, high_open=True)
    check_scalar("eps", eps, low=0)
    check_scalar("eps_root", eps_root, low=0)
    return optax.chain(
        optax.scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, nesterov=nesterov),
        scale_by_optimistic(alpha, beta, first_step=first_step),
        optax.scale_by_learning_rate(learning_rate),
    )


def _multiplicative_step() -> optax.GradientTransformation:
    """Turn a log-space step `d` into the update `w * exp(d) / sum(w * exp(d)) - w` of each
    leaf `w` of `params`, computed as a softmax of `log w + d` (shifted by its maximum)."""

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(
                "optimistic_multiplicative_weights needs the current weights: call "
                "`update(updates, state, params)` with `params` (the minimax solvers do)."
            )

        def leaf(d, w):
            positive = w > 0
            # log w, with log 0 = -inf and a zero (not NaN) derivative at the zeros.
            log_w = jnp.where(positive, jnp.log(jnp.where(positive, w, 1)), -jnp.inf)
            new = jax.nn.softmax(log_w + d.astype(w.dtype), axis=None)
            return new - w

        return jax.tree.map(leaf, updates, params), state

    return optax.GradientTransformation(init_fn, update_fn)


def optimistic_multiplicative_weights(
    learning_rate: optax.ScalarOrSchedule,
    alpha: optax.ScalarOrSchedule = 1.0,
    beta: optax.ScalarOrSchedule = 1.0,
    *,
    first_step: FirstStep = "fixed",
) -> optax.GradientTransformation:
    r"""Optimistic multiplicative weights (OMWU, Daskalakis & Panageas 2019): the optimistic
    direction of [`minimax.optimistic_gradient`][], taken as a multiplicative step on the
    probability simplex,

    $$u_t = (\alpha_t + \beta_t)\, g_t - \beta_t\, g_{t-1}, \qquad
    w_{t+1} = \frac{w_t \odot e^{-\eta_t u_t}}{\sum_i w_{t,i}\, e^{-\eta_t u_{t,i}}},$$

    with `g_{-1} = g_0` (`first_step="fixed"`: first exponent $-\eta_0 \alpha_0 g_0$) or
    `g_{-1} = 0` (`first_step="legacy"`: first exponent $-\eta_0 (\alpha_0 + \beta_0) g_0$,
    $(\alpha + \beta) / \alpha$ times larger), as in [`minimax.scale_by_optimistic`][]. With
    `alpha = beta = 1` this is the OMWU of Daskalakis & Panageas, whose last iterate converges
    to the equilibrium of a zero-sum matrix game with a unique equilibrium (for a small enough
    step); `beta = 0` is plain multiplicative weights (Hedge), whose last iterate cycles away
    from an interior equilibrium towards the boundary of the simplex.

    The update is computed in the log domain, as a softmax of $\log w_t - \eta_t u_t$ shifted
    by its maximum, so large exponents neither overflow nor underflow to an all-zero vector;
    the optax update is $w_{t+1} - w_t$. It needs the current weights: `update` must be given
    `params` (the minimax solvers pass them), and raises a `ValueError` otherwise.

    Each array leaf of the player is one simplex: normalised over the whole leaf (all its
    axes). A player whose leaves should form one joint simplex needs a different rule (note
    that `optax.projections.projection_simplex` treats a whole PyTree as one simplex). The
    weights should start on the simplex with positive entries: an entry at 0 stays at 0, as
    under any multiplicative rule. A game that also projects onto the simplex (e.g.
    [`games.MatrixGame`][]) changes the iterates only by rounding.

    **Arguments:**

    - `learning_rate`: $\eta$, a positive float or an optax schedule (or a traced scalar).
    - `alpha`, `beta`: a positive and a non-negative float, or optax schedules.
    - `first_step`: `"fixed"` (default) or `"legacy"`.

    **Returns:** an `optax.GradientTransformation`.

    **References:** Daskalakis, Panageas (2019), *Last-iterate convergence: zero-sum games and
    constrained min-max optimization*, ITCS; Freund, Schapire (1999), *Adaptive game playing
    using multiplicative weights*, Games and Economic Behavior.

    ```python
    >>> import jax.numpy as jnp, minimax as mx
    >>> opt = mx.optimistic_multiplicative_weights(jnp.log(3.0))
    >>> w = jnp.array([0.25, 0.75])
    >>> update, state = opt.update(jnp.array([0.0, 1.0]), opt.init(w), w)
    >>> print(jnp.round(w + update, 6))  # w * [1, 1/3] = [0.25, 0.25], renormalised
    [0.5 0.5]

    ```
    """
    check_scalar("learning_rate", learning_rate, low=0, low_open=True, schedule=True)
    return optax.chain(
        scale_by_optimistic(alpha, beta, first_step=first_step),
        optax.scale_by_learning_rate(learning_rate),
        _multiplicative_step(),
    )
