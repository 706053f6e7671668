"""Helpers shared by the games: argument checks and random matrices."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray


def as_float(name: str, value, ndim: int) -> Float[Array, "..."]:
    """`value` as a floating-point array with `ndim` dimensions, or a clear error."""
    value = jnp.asarray(value)
    if not jnp.issubdtype(value.dtype, jnp.inexact):
        value = value.astype(jnp.result_type(float))
    if value.ndim != ndim:
        raise ValueError(f"`{name}` must have {ndim} dimension(s), got shape {value.shape}.")
    return value


def check_shape(name: str, value, shape: tuple[int, ...], why: str) -> None:
    if jnp.shape(value) != shape:
        raise ValueError(f"`{name}` must have shape {shape} {why}, got {jnp.shape(value)}.")


def orthonormal(key: PRNGKeyArray, n: int, k: int, dtype) -> Float[Array, "n k"]:
    """`k` orthonormal columns in `R^n`, uniformly distributed (QR with a sign fix)."""
    q, r = jnp.linalg.qr(jax.random.normal(key, (n, k), dtype))
    return q * jnp.sign(jnp.diagonal(r))


def least_norm_solution(matrix: Float[Array, "p q"], rhs: Float[Array, " p"]) -> Float[Array, " q"]:
    """The minimum-norm least-squares solution of `matrix @ z = rhs`."""
    return jnp.linalg.lstsq(matrix, rhs)[0]
