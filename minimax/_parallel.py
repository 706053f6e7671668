"""Data parallelism on one host: the batch split over devices, the players replicated."""

from typing import Any

import equinox as eqx
import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import PyTree

from .checks import check_int


class DataParallel(eqx.Module):
    r"""Split every batch over the devices of a mesh and replicate the players: data-parallel
    training with `jax.jit`'s automatic partitioning (GSPMD). Each device computes the losses
    and gradients of its slice of the batch; the means over the batch become all-reduces, so
    every device holds the same players and takes the same step.

    Use it in two places: replicate the starting players (and model state), and, inside the
    game's losses, shard each batch the step draws:

    ```python
    dp = mx.DataParallel()  # every device, along a mesh axis named "batch"

    class MyGAN(mx.AbstractGeneralSumGame):
        def losses(self, players, args=None, key=None):
            real = dp.shard(self.data[jax.random.randint(key, (256,), 0, len(self.data))])
            ...

    sol = mx.solve(game, solver, dp.replicate(players), steps=..., key=key)
    ```

    The numbers are those of one device up to the order of the reductions (about 1e-6
    relative in float32). Checkpoints of replicated players save and load as usual; load
    them and `replicate` them again.

    **Arguments:**

    - `mesh`: a `jax.sharding.Mesh` with an axis named `axis`; by default a one-axis mesh
      over the first `devices` devices.
    - `axis`: the mesh axis the batch is split along (default `"batch"`).
    - `devices`: how many devices the default mesh uses (default all of them). On a CPU, make
      more than one with `XLA_FLAGS=--xla_force_host_platform_device_count=N`, set before
      JAX starts.
    """

    mesh: Mesh = eqx.field(static=True)
    axis: str = eqx.field(static=True)

    def __init__(
        self, mesh: Mesh | None = None, *, axis: str = "batch", devices: int | None = None
    ):
        if not isinstance(axis, str):
            raise TypeError(f"`axis` must be a mesh axis name (a str), got {axis!r}.")
        available = jax.devices()
        if mesh is None:
            n = len(available) if devices is None else check_int("devices", devices)
            if n > len(available):
                raise ValueError(
                    f"`devices` is {n}, but JAX sees {len(available)} "
                    f"({available[0].platform}). On a CPU, set "
                    f"XLA_FLAGS=--xla_force_host_platform_device_count={n} before JAX starts."
                )
            mesh = Mesh(available[:n], (axis,))
        elif devices is not None:
            raise ValueError("Give `mesh` or `devices`, not both.")
        if not isinstance(mesh, Mesh):
            raise TypeError(f"`mesh` must be a jax.sharding.Mesh, got {type(mesh).__name__}.")
        if axis not in mesh.axis_names:
            raise ValueError(
                f"`axis` {axis!r} is not an axis of `mesh`, whose axes are {mesh.axis_names}."
            )
        self.mesh, self.axis = mesh, axis

    @property
    def size(self) -> int:
        """How many slices a batch is split into."""
        return self.mesh.shape[self.axis]

    def replicate(self, tree: PyTree) -> PyTree:
        """`tree` with every array on every device of the mesh (players, model state)."""
        sharding = NamedSharding(self.mesh, PartitionSpec())
        return jax.tree.map(lambda a: jax.device_put(a, sharding) if eqx.is_array(a) else a, tree)

    def shard(self, batch: PyTree) -> PyTree:
        """`batch` split along its leading axis over the mesh's `axis`: inside a compiled
        function a sharding constraint, outside it a transfer. The leading size must be a
        multiple of the number of slices."""

        def split(a: Any) -> Any:
            if not eqx.is_array(a):
                return a
            if a.ndim == 0 or a.shape[0] % self.size:
                raise ValueError(
                    f"A batch of shape {a.shape} cannot be split over {self.size} devices: its "
                    f"leading size must be a multiple of {self.size}."
                )
            spec = PartitionSpec(self.axis, *[None] * (a.ndim - 1))
            sharding = NamedSharding(self.mesh, spec)
            if isinstance(a, jax.core.Tracer):
                return jax.lax.with_sharding_constraint(a, sharding)
            return jax.device_put(a, sharding)

        return jax.tree.map(split, batch)
