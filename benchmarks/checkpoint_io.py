"""What checkpoints cost: bytes written by a checkpointed run, and memory to load a checkpoint.

1. Bytes written: a run of 1000 steps recording every step a 10 KB row (a 10 MB trajectory),
   checkpointed every 10 steps (100 saves). Counted from the process's `wchar` in
   `/proc/self/io` (bytes handed to `write`), around the run; also the wall-clock time of the
   checkpointed run against the same run without checkpoints (both compiled first).
2. Load memory: `minimax.load_checkpoint` of a file holding 2 x 5M float32 players and their
   optimistic-gradient state (about 80 MB), in a fresh process; the peak resident memory during
   the load, less the memory before it, over the file's size.

Run `python benchmarks/checkpoint_io.py` (Linux: it reads /proc) to print both.
"""

import os
import subprocess
import sys
import tempfile

WRITE = """
import os, sys, time, jax.numpy as jnp, minimax as mx

def wchar():
    with open("/proc/self/io") as f:
        return int(next(line for line in f if line.startswith("wchar")).split()[1])

game = mx.ZeroSumGame(lambda x, y, args: x @ y)
solver = mx.Simultaneous(mx.optimistic_gradient(1e-3))
start = (jnp.ones(1250), jnp.ones(1250))  # a row: 2 x 1250 float32 = 10 KB
kw = dict(steps=1000, save_every=1)
mx.solve(game, solver, start, **kw).players[0].block_until_ready()  # compile
t = time.perf_counter()
mx.solve(game, solver, start, **kw).players[0].block_until_ready()
plain = time.perf_counter() - t
ckpt = dict(checkpoint_every=10, **kw)
mx.solve(game, solver, start, checkpoint=sys.argv[1] + ".warm", **ckpt)  # compile the chunks
before, t = wchar(), time.perf_counter()
sol = mx.solve(game, solver, start, checkpoint=sys.argv[1], **ckpt)
sol.players[0].block_until_ready()
took, written = time.perf_counter() - t, wchar() - before
trajectory = sum(a.nbytes for a in sol.trajectory)
print(f"{written / 1e6:.1f} MB written by 100 saves of a {trajectory / 1e6:.1f} MB trajectory; "
      f"{took:.2f} s with checkpoints, {plain:.2f} s without")
"""

SAVE = """
import sys, jax.numpy as jnp, minimax as mx
game = mx.ZeroSumGame(lambda x, y, args: x @ y)
solver = mx.Simultaneous(mx.optimistic_gradient(1e-3))
n = 5_000_000
mx.save_checkpoint(sys.argv[1], mx.solve(game, solver, (jnp.ones(n), jnp.ones(n)), steps=1))
"""

LOAD = """
import os, resource, sys, jax, jax.numpy as jnp, minimax as mx
game = mx.ZeroSumGame(lambda x, y, args: x @ y)
solver = mx.Simultaneous(mx.optimistic_gradient(1e-3))
n = 5_000_000
like = (jax.ShapeDtypeStruct((n,), jnp.float32),) * 2
jnp.zeros(1).block_until_ready()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
players, state = mx.load_checkpoint(sys.argv[1], game, solver, like)
jax.block_until_ready((players, state))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
size = os.path.getsize(sys.argv[1])
print(f"load_checkpoint of a {size / 1e6:.0f} MB file: peak memory +{(peak - before) / 1e6:.0f} MB "
      f"= {(peak - before) / size:.2f}x the file")
"""


def main():
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "run.eqx")
        subprocess.run([sys.executable, "-c", WRITE, path], check=True)
        path = os.path.join(folder, "big.eqx")
        subprocess.run([sys.executable, "-c", SAVE, path], check=True)
        subprocess.run([sys.executable, "-c", LOAD, path], check=True)


if __name__ == "__main__":
    main()
