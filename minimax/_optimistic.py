"""Optimistic gradient transformations with a correct first step."""

from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Int

from ._misc import check_choice, check_scalar

FirstStep = Literal["fixed", "legacy"]
_FIRST_STEPS = ("fixed", "legacy")


class OptimisticState(NamedTuple):
    """State of [`minimax.scale_by_optimistic`][].

    **Fields:**

    - `count`: how many updates have been made; schedules are evaluated at it.
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
            if first_step == "fixed":
                g_prev = jnp.where(first, g, g_prev)  # so that g - g_prev is exactly 0
            a = jnp.asarray(alpha_t, g.dtype)
            b = jnp.asarray(beta_t, g.dtype)
            return a * g + b * (g - g_prev)

        new_updates = jax.tree.map(leaf, updates, state.previous)
        return new_updates, OptimisticState(optax.safe_increment(state.count), updates)

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
