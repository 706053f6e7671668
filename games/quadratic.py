import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray, Scalar

import minimax as mx

from ._common import (
    as_float,
    check_shape,
    check_vectors,
    linear_terms,
    orthonormal,
    saddle_point,
)


class QuadraticSaddle(mx.AbstractZeroSumGame):
    r"""The quadratic saddle-point problem

    $$\min_x \max_y\ f(x, y) = \tfrac12 x^\top B x + x^\top A y - \tfrac12 y^\top C y
    + b^\top x + c^\top y,$$

    convex-concave for symmetric positive semi-definite `B` and `C`, strongly so when their
    smallest eigenvalue `mu > 0` (then the equilibrium is unique and gradient methods converge
    linearly). Its stationary points solve

    $$\begin{pmatrix} B & A \\ A^\top & -C \end{pmatrix}
    \begin{pmatrix} x \\ y \end{pmatrix} = -\begin{pmatrix} b \\ c \end{pmatrix};$$

    `equilibrium` returns the one nearest a given point, the minimum-norm one by default.

    **Arguments:**

    - `A`: the `(n, m)` coupling matrix.
    - `B`: the `(n, n)` symmetric positive semi-definite curvature of `x`.
    - `C`: the `(m, m)` symmetric positive semi-definite curvature of `y`.
    - `b`, `c`: `(n,)` and `(m,)` vectors, zeros if omitted.

    **References:** Mokhtari, Ozdaglar, Pattathil (2020), *A unified analysis of extra-gradient and
    optimistic gradient methods for saddle point problems: proximal point approach*, AISTATS;
    Gidel et al. (2019), *Negative momentum for improved game dynamics*, AISTATS.
    """

    A: Float[Array, "n m"]
    B: Float[Array, "n n"]
    C: Float[Array, "m m"]
    b: Float[Array, " n"]
    c: Float[Array, " m"]

    def __init__(self, A, B, C, b=None, c=None):
        self.A = as_float("A", A, 2)
        n, m = self.A.shape
        why = f"to match A of shape {self.A.shape}"
        self.B, self.C = as_float("B", B, 2), as_float("C", C, 2)
        check_shape("B", self.B, (n, n), why)
        check_shape("C", self.C, (m, m), why)
        self.b, self.c = linear_terms(self.A, b, c)

    def value(self, x, y, args=None, key=None) -> Scalar:
        check_vectors(self.A, x, y)
        A, B, C, b, c = (v.astype(x.dtype) for v in (self.A, self.B, self.C, self.b, self.c))
        return x @ (B @ x) / 2 + x @ (A @ y) - y @ (C @ y) / 2 + b @ x + c @ y

    def equilibrium(self, near=None) -> tuple[Float[Array, " n"], Float[Array, " m"]]:
        """The stationary point `(x*, y*)` closest to `near = (x0, y0)`, or the minimum-norm one
        (they differ only when the system above is singular)."""
        return saddle_point(self.A, self.B, self.C, self.b, self.c, near)

    @classmethod
    def random(
        cls,
        key: PRNGKeyArray,
        n: int,
        m: int | None = None,
        *,
        mu: float = 0.1,
        L: float = 1.0,
        coupling: float = 1.0,
        linear: bool = False,
        dtype=None,
    ) -> "QuadraticSaddle":
        """A random game: `B` and `C` have random eigenvectors and eigenvalues spaced evenly in
        `[mu, L]`; `A = coupling * U V^T` has all `min(n, m)` singular values equal to `coupling`.

        **Arguments:**

        - `key`: a JAX PRNG key.
        - `n`, `m`: the players' dimensions (`m = n` if omitted).
        - `mu`, `L`: strong convexity (and concavity) and smoothness, `0 <= mu <= L`.
        - `coupling`: the strength of the interaction, `>= 0` (0: two separate minimisations).
        - `linear`: also draw `b` and `c` so that standard normal `(x*, y*)` is an equilibrium
          (one away from the origin, which exists even when `mu = 0` makes the game singular).
        - `dtype`: floating dtype of the game; JAX's default float if omitted.
        """
        m = n if m is None else m
        if not 0 <= mu <= L:
            raise ValueError(f"`mu` and `L` must satisfy 0 <= mu <= L, got {mu} and {L}.")
        if coupling < 0:
            raise ValueError(f"`coupling` must be non-negative, got {coupling}.")
        dtype = jnp.result_type(float) if dtype is None else dtype
        kb, kc, ku, kv, klb, klc = jax.random.split(key, 6)

        def curvature(k, d):
            q = orthonormal(k, d, d, dtype)
            return (q * jnp.linspace(mu, L, d, dtype=dtype)[None, :]) @ q.T

        k = min(n, m)
        A = coupling * orthonormal(ku, n, k, dtype) @ orthonormal(kv, m, k, dtype).T
        B, C = curvature(kb, n), curvature(kc, m)
        if not linear:
            return cls(A, B, C)
        # (b, c) = -K z* for the stationarity matrix K: an equilibrium exists even if K is singular.
        x_star, y_star = jax.random.normal(klb, (n,), dtype), jax.random.normal(klc, (m,), dtype)
        return cls(A, B, C, -(B @ x_star + A @ y_star), -(A.T @ x_star - C @ y_star))


def matrix_games(
    key: PRNGKeyArray, n: int, m: int | None = None, *, dtype=None
) -> dict[str, mx.AbstractZeroSumGame]:
    """The two `n x m` games on which the demo, the benchmarks and the tests compare update
    rules: `"bilinear"`, a [`games.Bilinear`][] with singular values from 1 down to 0.5, and
    `"quadratic"`, a [`games.QuadraticSaddle`][] with curvature `mu = 0.1` and linear terms (an
    equilibrium away from the origin)."""
    from .bilinear import Bilinear

    return {
        "bilinear": Bilinear.random(key, n, m, sigma_min=0.5, dtype=dtype),
        "quadratic": QuadraticSaddle.random(key, n, m, mu=0.1, linear=True, dtype=dtype),
    }
