r"""Gradient penalties for GAN discriminators: R1, R2 and WGAN-GP.

Each takes the discriminator `D` as a callable on **one** sample (an `eqx.nn.MLP` with
`out_size="scalar"`, any equinox module, or a plain function) that returns a scalar logit, and a
batch of samples stacked along the first axis. Gradients are per sample: `jax.vmap` of
`jax.grad(D)` over the batch, so samples never mix (a discriminator whose output on one sample
depends on the others, like a batch-mode `eqx.nn.BatchNorm`, has no per-sample gradient: put it
in inference mode or use another normalisation).

A discriminator with a model state (`eqx.nn.SpectralNorm` inside, made with
`eqx.nn.make_with_state`) is called as `D(x, state) -> (logit, new_state)`: pass `state=`. The
penalty reads that state and does not advance it (the loss's own forward pass does, once per
step); its gradient is taken with the state held fixed.

The weight (`gamma`) may be a traced scalar (e.g. under `jax.vmap` over weights): it is a
multiplier, never a compile-time constant. The penalties are differentiable in `D`'s parameters
(double backpropagation), which is how they enter a discriminator's loss.
"""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray, PyTree, Scalar

from .checks import check_callable, check_scalar

__all__ = ["gradient_penalty", "r1", "r2"]


def _logit(D: Callable) -> Callable[[Array, PyTree], Scalar]:
    """`D` on one sample, `(x, state) -> logit`, its output checked to be a scalar."""

    def logit(x, state):
        # A copy of the state (rebuilt by `tree.map`): equinox invalidates a state once a layer
        # has updated it, and the caller's state must stay valid.
        out = D(x) if state is None else D(x, jax.tree.map(lambda a: a, state))[0]
        if jnp.shape(out) != ():
            raise ValueError(
                "`D` must return a scalar logit for one sample, got an output of shape "
                f"{jnp.shape(out)}; for an `eqx.nn.MLP` use `out_size='scalar'`."
            )
        return out

    return logit


def _squared_norms(D: Callable, points: Array, state: PyTree | None) -> Float[Array, " n"]:
    r"""$\|\nabla_x D(x_i)\|^2$ for each sample $x_i$ (rows of `points`)."""
    grads = jax.vmap(jax.grad(_logit(D)), in_axes=(0, None))(points, state)
    return jnp.sum(grads.reshape(grads.shape[0], -1) ** 2, axis=1)


def _check(D: Callable, name: str, points: Any, gamma: Any) -> Array:
    check_callable("D", D)
    check_scalar("gamma", gamma, low=0)
    points = jnp.asarray(points)
    if points.ndim < 1 or points.shape[0] == 0 or not jnp.issubdtype(points.dtype, jnp.inexact):
        raise ValueError(
            f"`{name}` must be a non-empty floating-point batch of samples stacked along the "
            f"first axis, got {points.dtype} of shape {points.shape}."
        )
    return points


def _penalty(D, name, points, gamma, state) -> Scalar:
    points = _check(D, name, points, gamma)
    return jnp.asarray(gamma, points.dtype) / 2 * jnp.mean(_squared_norms(D, points, state))


def r1(
    D: Callable,
    real: Float[ArrayLike, "n ..."],
    gamma: ArrayLike,
    *,
    state: PyTree | None = None,
) -> Scalar:
    r"""The R1 penalty of Mescheder, Geiger and Nowozin (2018): the discriminator's squared
    gradient on real data,

    $$R_1 = \frac{\gamma}{2}\, \mathbb{E}_{x \sim p_{\text{data}}}
    \big\|\nabla_x D(x)\big\|^2,$$

    estimated on the batch `real` (the mean over its samples), to be added to the
    discriminator's loss. It vanishes at the equilibrium where `G` matches the data and `D` is
    constant there, and makes simultaneous gradient descent locally convergent.

    Conventions differ by a factor of 2: this is the paper's $\gamma / 2$, which StyleGAN2
    (Karras et al. 2020, `r1_gamma / 2` times the squared norm, batch mean) also uses, so the
    same $\gamma$ means the same penalty there. The paper's code (GAN_stability) adds
    `reg_param * E||grad||^2` without the 1/2: its `reg_param` is $\gamma / 2$ here.

    **Arguments:**

    - `D`: the discriminator on one sample (a scalar logit); with `state`, called as
      `D(x, state) -> (logit, new_state)`.
    - `real`: a batch of real samples, `(n, *sample_shape)`.
    - `gamma`: the weight $\gamma \ge 0$, a float or a traced scalar.
    - `state`: `D`'s model state, if it has one (read, not advanced).

    **Returns:** the penalty, a scalar of `real`'s dtype.

    **References:** Mescheder, Geiger, Nowozin (2018), *Which training methods for GANs do
    actually converge?*, ICML; Karras et al. (2020), *Analyzing and improving the image quality
    of StyleGAN*, CVPR.

    ```python
    >>> import jax.numpy as jnp, minimax as mx
    >>> D = lambda x: 3.0 * jnp.sum(x)  # gradient (3, 3) everywhere: |grad|^2 = 18
    >>> print(mx.gan.r1(D, jnp.ones((5, 2)), 1.0))
    9.0

    ```
    """
    return _penalty(D, "real", real, gamma, state)


def r2(
    D: Callable,
    fake: Float[ArrayLike, "n ..."],
    gamma: ArrayLike,
    *,
    state: PyTree | None = None,
) -> Scalar:
    r"""The R2 penalty of Mescheder, Geiger and Nowozin (2018): [`minimax.gan.r1`][] on
    generated samples,

    $$R_2 = \frac{\gamma}{2}\, \mathbb{E}_{x \sim p_\theta} \big\|\nabla_x D(x)\big\|^2,$$

    the mean over the batch `fake`, with the same conventions and arguments as `r1`. It enters
    the discriminator's loss, which only the discriminator differentiates, so whether `fake`
    carries the generator's gradient matters only to rules that differentiate across players
    (CGD, SGA, consensus): pass `jax.lax.stop_gradient(fake)` to treat the samples as data, as
    the paper's code does.
    """
    return _penalty(D, "fake", fake, gamma, state)


def gradient_penalty(
    D: Callable,
    real: Float[ArrayLike, "n ..."],
    fake: Float[ArrayLike, "m ..."],
    key: PRNGKeyArray,
    gamma: ArrayLike,
    *,
    state: PyTree | None = None,
) -> Scalar:
    r"""The WGAN-GP penalty of Gulrajani et al. (2017): the critic's gradient norm pushed
    towards 1 on random points between real and generated samples,

    $$\gamma\, \mathbb{E}_{\varepsilon \sim U[0, 1]}
    \big(\|\nabla_x D(\hat x)\| - 1\big)^2, \qquad
    \hat x = \varepsilon x + (1 - \varepsilon) \tilde x,$$

    with one $\varepsilon$ per pair $(x, \tilde x)$ of rows of `real` and `fake`, drawn with
    `key`, and the mean over the batch. The paper's $\lambda$ is `gamma` (no factor 1/2; it
    uses $\lambda = 10$).

    **Arguments:**

    - `D`: the critic on one sample; with `state`, called as `D(x, state) -> (out, state)`.
    - `real`, `fake`: batches of the same shape `(n, *sample_shape)`.
    - `key`: a JAX PRNG key for the interpolation weights.
    - `gamma`: the weight $\gamma \ge 0$, a float or a traced scalar.
    - `state`: `D`'s model state, if it has one (read, not advanced).

    **References:** Gulrajani, Ahmed, Arjovsky, Dumoulin, Courville (2017), *Improved training
    of Wasserstein GANs*, NeurIPS.
    """
    real = _check(D, "real", real, gamma)
    fake = jnp.asarray(fake, real.dtype)
    if fake.shape != real.shape:
        raise ValueError(f"`fake` must have the shape of `real`, {real.shape}, got {fake.shape}.")
    eps = jax.random.uniform(key, (real.shape[0],) + (1,) * (real.ndim - 1), real.dtype)
    between = eps * real + (1 - eps) * fake
    # sqrt has an infinite derivative at 0: a zero gradient gets the (finite) penalty 1 with a
    # zero derivative instead of NaN.
    squared = _squared_norms(D, between, state)
    safe = jnp.where(squared > 0, squared, 1)
    norms = jnp.where(squared > 0, jnp.sqrt(safe), 0)
    return jnp.asarray(gamma, real.dtype) * jnp.mean((norms - 1) ** 2)
