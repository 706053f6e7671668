"""What XLA:CPU's memory-optimised schedule, which `minimax.solve` compiles with, does to a step.

`solve` compiles its run with `compiler_options={"xla_cpu_scheduler_type":
"CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED"}`: XLA's default schedule lets independent operations run
on several cores at once, and on small problems handing them between cores costs more than it
saves. Each workload below is one `solve` call whose run is compiled twice, with XLA's default
schedule and with the memory-optimised one (the script swaps the compiled function `solve`
calls), timed side by side: best of `--repeats` interleaved calls after compilation, wall
clock including `solve`'s checks (x64 on, as the LP benchmark runs):

- PDHG on Netlib's kb2 (`../shared/netlib/kb2.mps`; skipped without it), 20,000 steps;
- the mixture GAN (tanh MLPs 64 x 2, batch 256), optimistic Adam and Extra-Adam, 1,000 steps,
  with float32 and with float64 players;
- CGD on a random 100 x 100 bilinear game, 2,000 steps.

    python benchmarks/schedule.py            # prints the Markdown table
    python benchmarks/schedule.py --write    # also records it in docs/benchmarks.md
"""

import argparse
import os
import time
from pathlib import Path

import _docs  # benchmarks/_docs.py, beside this script
import equinox as eqx
import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)

import optax  # noqa: E402

import games  # noqa: E402
import minimax as mx  # noqa: E402
from minimax import _solve  # noqa: E402
from minimax._solve import _COMPILER_OPTIONS  # noqa: E402

NETLIB = Path(__file__).resolve().parent.parent.parent / "shared" / "netlib"


def workloads() -> dict:
    """name -> (game, solver, players, steps, key)."""
    out = {}
    if (NETLIB / "kb2.mps").exists():
        lp = games.LinearProgram.from_mps(NETLIB / "kb2.mps")
        # A tolerance no run reaches here: every call takes all its steps.
        out["PDHG, Netlib kb2"] = (lp, mx.PDHG(tol=1e-14), lp.init_players(), 20_000, None)
    gan = games.MixtureGAN()
    key = jax.random.key(1)
    oadam = mx.Simultaneous(mx.optimistic_adam(1e-3, b1=0.5, b2=0.9))
    extra = mx.ExtraGradient(optax.adam(1e-3, b1=0.5, b2=0.9), share_state=True)
    for dtype in (jnp.float32, jnp.float64):
        players = gan.init_players(jax.random.key(0), dtype=dtype)
        bits = jnp.finfo(dtype).bits
        out[f"optimistic Adam, mixture GAN, float{bits}"] = (gan, oadam, players, 1_000, key)
        out[f"Extra-Adam, mixture GAN, float{bits}"] = (gan, extra, players, 1_000, key)
    bilinear = games.Bilinear.random(jax.random.key(0), 100)
    start = (jnp.ones(100), jnp.ones(100))
    out["CGD, bilinear 100 x 100"] = (bilinear, mx.CGD(0.1), start, 2_000, None)
    return out


def measure(game, solver, players, steps, key, repeats: int) -> dict[str, float]:
    """Microseconds per step of `solve`'s run compiled with each schedule."""
    compiled = {
        "default": eqx.filter_jit(_solve._run_solve),
        "memory-optimised": eqx.filter_jit(_solve._run_solve, compiler_options=_COMPILER_OPTIONS),
    }

    def run(name):
        _solve._solve_top = compiled[name]  # what `solve` calls outside any transformation
        sol = mx.solve(game, solver, players, steps=steps, key=key, save_every=None, throw=False)
        return jax.block_until_ready(sol.players)

    original = _solve._solve_top
    try:
        for name in compiled:
            run(name)
        best = dict.fromkeys(compiled, float("inf"))
        for _ in range(repeats):
            for name in compiled:
                start = time.perf_counter()
                run(name)
                best[name] = min(best[name], time.perf_counter() - start)
    finally:
        _solve._solve_top = original
    return {name: 1e6 * t / steps for name, t in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="record it in docs/benchmarks.md")
    options = parser.parse_args()
    load = os.getloadavg()[0]
    lines = [
        "| workload | default schedule (us a step) | memory-optimised (us a step) | speed-up |",
        "|---|---:|---:|---:|",
    ]
    for name, (game, solver, players, steps, key) in workloads().items():
        times = measure(game, solver, players, steps, key, options.repeats)
        default, memory = times["default"], times["memory-optimised"]
        lines.append(f"| {name} | {default:,.1f} | {memory:,.1f} | {default / memory:.2f}x |")
        print(lines[-1], flush=True)
    text = "\n".join(lines)
    print(text)
    if options.write:
        body = "\n".join(
            [
                "Microseconds per step of one `minimax.solve` run, compiled with XLA:CPU's "
                "default schedule and with the memory-optimised schedule that `solve` uses at "
                "the top level (float64; best of "
                f"{options.repeats} interleaved calls after compilation). A speed-up above 1 "
                "means the memory-optimised schedule is faster.",
                "",
                text,
            ]
        )
        _docs.record("schedule.py", "XLA:CPU's schedule and the cost of a step", body, load)


if __name__ == "__main__":
    main()
