import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray, Scalar

import minimax as mx

from ._common import as_float, check_vectors, linear_terms, orthonormal, saddle_point


class Bilinear(mx.AbstractZeroSumGame):
    r"""The bilinear game

    $$\min_{x \in \mathbb{R}^n} \max_{y \in \mathbb{R}^m}\ f(x, y)
    = x^\top A y + b^\top x + c^\top y.$$

    The canonical game on which simultaneous gradient descent-ascent spirals outwards while
    optimistic and extra-gradient methods converge (Daskalakis et al. 2018; Gidel et al. 2019).
    Stationary points satisfy `A y = -b` and `A^T x = -c` (if `b` or `c` is outside the range of
    `A` there are none, and `equilibrium` returns a least-squares point).

    **Arguments:**

    - `A`: an `(n, m)` matrix; it may be rectangular or singular.
    - `b`: an `(n,)` vector, zeros if omitted.
    - `c`: an `(m,)` vector, zeros if omitted.

    **References:** Daskalakis, Ilyas, Syrgkanis, Zeng (2018), *Training GANs with optimism*, ICLR;
    Gidel, Berard, Vignoud, Vincent, Lacoste-Julien (2019), *A variational inequality perspective
    on generative adversarial networks*, ICLR.
    """

    A: Float[Array, "n m"]
    b: Float[Array, " n"]
    c: Float[Array, " m"]

    def __init__(self, A, b=None, c=None):
        self.A = as_float("A", A, 2)
        self.b, self.c = linear_terms(self.A, b, c)

    def value(self, x, y, args=None, key=None) -> Scalar:
        check_vectors(self.A, x, y)
        A, b, c = (v.astype(x.dtype) for v in (self.A, self.b, self.c))
        return x @ (A @ y) + b @ x + c @ y

    def equilibrium(self, near=None) -> tuple[Float[Array, " n"], Float[Array, " m"]]:
        """The stationary point `(x*, y*)` closest to `near = (x0, y0)`, or the minimum-norm one.

        When `A` is singular or rectangular the stationary points form an affine subspace, and
        gradient dynamics started at `(x0, y0)` never move along its directions: measure a run
        against `equilibrium(near=(x0, y0))`.
        """
        (n, m), dtype = self.A.shape, self.A.dtype
        no_curvature = jnp.zeros((n, n), dtype), jnp.zeros((m, m), dtype)
        return saddle_point(self.A, *no_curvature, self.b, self.c, near)

    @classmethod
    def random(
        cls,
        key: PRNGKeyArray,
        n: int,
        m: int | None = None,
        *,
        sigma_min: float = 1.0,
        sigma_max: float = 1.0,
        linear: bool = False,
        dtype=None,
    ) -> "Bilinear":
        """A random game `A = U diag(s) V^T` with uniformly random orthonormal `U, V` and
        `min(n, m)` singular values `s` spaced evenly from `sigma_max` down to `sigma_min`
        (`sigma_min = 0` makes the game singular).

        **Arguments:**

        - `key`: a JAX PRNG key.
        - `n`, `m`: the players' dimensions (`m = n` if omitted).
        - `sigma_min`, `sigma_max`: the range of singular values, `0 <= sigma_min <= sigma_max`.
        - `linear`: also draw `b` and `c`, as `-A y*` and `-A^T x*` for standard normal `x*, y*`
          (an equilibrium away from the origin, which exists even when `A` is singular).
        - `dtype`: floating dtype of the game; JAX's default float if omitted.
        """
        m = n if m is None else m
        if not 0 <= sigma_min <= sigma_max:
            raise ValueError(
                "`sigma_min` and `sigma_max` must satisfy 0 <= sigma_min <= sigma_max, got "
                f"{sigma_min} and {sigma_max}."
            )
        dtype = jnp.result_type(float) if dtype is None else dtype
        k = min(n, m)
        ku, kv, kx, ky = jax.random.split(key, 4)
        s = jnp.linspace(sigma_max, sigma_min, k, dtype=dtype)
        A = (orthonormal(ku, n, k, dtype) * s[None, :]) @ orthonormal(kv, m, k, dtype).T
        if not linear:
            return cls(A)
        # b = -A y*, c = -A^T x*: an equilibrium exists even when A is singular.
        x_star, y_star = jax.random.normal(kx, (n,), dtype), jax.random.normal(ky, (m,), dtype)
        return cls(A, -A @ y_star, -A.T @ x_star)
