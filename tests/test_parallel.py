"""Data parallelism on one host: a GAN's batch split over 2 forced CPU devices trains like one
device; replicated players checkpoint and load."""

import subprocess
import sys

import jax
import pytest

import minimax as mx

SCRIPT = r"""
import os, sys, tempfile
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
import equinox as eqx, jax, jax.numpy as jnp, numpy as np, optax
import minimax as mx

assert len(jax.devices()) == 2


class GAN(mx.AbstractGeneralSumGame):
    data: jax.Array
    dp: object = None

    def losses(self, players, args=None, key=None):
        G, D = players
        k_data, k_z = jax.random.split(key)
        real = self.data[jax.random.randint(k_data, (32,), 0, self.data.shape[0])]
        z = jax.random.normal(k_z, (32, 4))
        if self.dp is not None:
            real, z = self.dp.shard((real, z))
        d_real, d_fake = jax.vmap(D)(real), jax.vmap(D)(jax.vmap(G)(z))
        softplus = jax.nn.softplus
        return softplus(-d_fake).mean(), softplus(-d_real).mean() + softplus(d_fake).mean()

    def equilibrium(self, near=None):
        raise NotImplementedError


data = 2.0 + jax.random.normal(jax.random.key(0), (1000, 2))
kg, kd = jax.random.split(jax.random.key(1))
players = (eqx.nn.MLP(4, 2, 32, 2, key=kg), eqx.nn.MLP(2, "scalar", 32, 2, key=kd))
solver = mx.Simultaneous(mx.optimistic_adam(1e-2, b1=0.5, b2=0.9))
run = dict(steps=10, key=jax.random.key(2), save_every=None)
one = mx.solve(GAN(data), solver, players, **run)
dp = mx.DataParallel()
two = mx.solve(GAN(dp.replicate(data), dp), solver, dp.replicate(players), **run)
arrays = lambda p: jax.tree.leaves(eqx.filter(p, eqx.is_array))
for a, b in zip(arrays(one.players), arrays(two.players), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert len(b.sharding.device_set) == 2  # replicated on both devices
assert not all(np.array_equal(a, b) for a, b in zip(arrays(players), arrays(two.players)))
with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "run.eqx")
    mx.save_checkpoint(path, two)
    loaded, state = mx.load_checkpoint(path, GAN(data, dp), solver, players, key=run["key"])
    for a, b in zip(arrays(loaded), arrays(two.players), strict=True):
        np.testing.assert_array_equal(a, b)
    more = mx.solve(GAN(dp.replicate(data), dp), solver, dp.replicate(loaded), state=state,
                    **run)
print("ok")
"""


def test_two_devices_train_like_one():
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stderr[-3000:]


def test_clear_errors():
    n = len(jax.devices())
    with pytest.raises(ValueError, match=f"`devices` is {n + 1}.*xla_force_host_platform"):
        mx.DataParallel(devices=n + 1)
    with pytest.raises(ValueError, match="`axis` 'data' is not an axis of `mesh`"):
        mx.DataParallel(jax.make_mesh((1,), ("batch",)), axis="data")
    dp = mx.DataParallel(jax.make_mesh((1,), ("batch",)))
    assert dp.size == 1 and dp.shard(jax.numpy.ones((3, 2))).shape == (3, 2)
    with pytest.raises(ValueError, match="cannot be split"):
        mx.DataParallel().shard(jax.numpy.ones(()))
