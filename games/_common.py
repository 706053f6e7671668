"""Helpers shared by the games: argument checks and random matrices."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray, PyTree


def as_float(name: str, value, ndim: int) -> Float[Array, "..."]:
    """`value` as a floating-point array with `ndim` dimensions, finite when it is concrete
    (a game's data with NaN or inf would only give NaN later), or a clear error."""
    value = jnp.asarray(value)
    if not jnp.issubdtype(value.dtype, jnp.inexact):
        value = value.astype(jnp.result_type(float))
    if value.ndim != ndim:
        raise ValueError(f"`{name}` must have {ndim} dimension(s), got shape {value.shape}.")
    if not isinstance(value, jax.core.Tracer) and not bool(jnp.all(jnp.isfinite(value))):
        raise ValueError(f"`{name}` must be finite, but it holds NaN or inf.")
    return value


def float_dtype(tree: PyTree):
    """The dtype of the first floating-point array in `tree` (JAX's default float if none)."""
    for leaf in jax.tree.leaves(tree):
        if eqx.is_inexact_array(leaf):
            return leaf.dtype
    return jnp.result_type(float)


def check_shape(name: str, value, shape: tuple[int, ...], why: str) -> None:
    if jnp.shape(value) != shape:
        raise ValueError(f"`{name}` must have shape {shape} {why}, got {jnp.shape(value)}.")


def linear_terms(A, b, c) -> tuple[Float[Array, " n"], Float[Array, " m"]]:
    """`b` and `c` as vectors that fit the `(n, m)` matrix `A`, zeros where omitted."""
    (n, m), why = A.shape, f"to match A of shape {A.shape}"
    b = jnp.zeros(n, A.dtype) if b is None else as_float("b", b, 1)
    c = jnp.zeros(m, A.dtype) if c is None else as_float("c", c, 1)
    check_shape("b", b, (n,), why)
    check_shape("c", c, (m,), why)
    return b, c


def check_vectors(A, x, y) -> None:
    """`x` and `y` must be vectors that fit the `(n, m)` matrix `A`."""
    (n, m), why = A.shape, f"since A has shape {A.shape}"
    check_shape("players[0]", x, (n,), why)
    check_shape("players[1]", y, (m,), why)


def orthonormal(key: PRNGKeyArray, n: int, k: int, dtype) -> Float[Array, "n k"]:
    """`k` orthonormal columns in `R^n`, uniformly distributed (QR with a sign fix)."""
    q, r = jnp.linalg.qr(jax.random.normal(key, (n, k), dtype))
    return q * jnp.sign(jnp.diagonal(r))[None, :]


def saddle_point(A, B, C, b, c, near) -> tuple[Float[Array, " n"], Float[Array, " m"]]:
    r"""The stationary point of `x^T B x / 2 + x^T A y - y^T C y / 2 + b^T x + c^T y` closest to
    `near = (x0, y0)` (to the origin if `near` is None): `z0 + d` with `d` the minimum-norm
    least-squares solution of `K d = -(b, c) - K z0`, `K = [[B, A], [A^T, -C]]`."""
    n, m = A.shape
    kkt = jnp.block([[B, A], [A.T, -C]])
    z0 = jnp.zeros(n + m, A.dtype) if near is None else jnp.concatenate(near).astype(A.dtype)
    check_shape("near", z0, (n + m,), f"(x and y together) since A has shape {A.shape}")
    z = z0 + jnp.linalg.lstsq(kkt, -jnp.concatenate([b, c]) - kkt @ z0)[0]
    return z[:n], z[n:]
