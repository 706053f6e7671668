"""Linear programs: minimax's solvers, plain and restarted, against MPAX and scipy's HiGHS.

On random feasible LPs `min c^T x s.t. A x = b, x >= 0` with a known unique optimum
(`games.LinearProgram.random`, played with `rescale=True`: PDLP's Ruiz + Pock-Chambolle
diagonal preconditioning), each minimax method runs from zero for a fixed budget, recording the
KKT error (PDLP's relative criteria: the largest of the relative primal residual, dual residual
and duality gap, Euclidean norms) and the players every 64 steps. Reported, for tolerances of
1e-6 and 1e-8:

- evaluations: field evaluations (each one product with A and one with A^T) until the KKT error
  first drops to the tolerance (one per step; two per extra-gradient step), at the 64-step
  granularity of the record; a method that never gets there shows `> budget` and the KKT error
  it ended at.
- error vs HiGHS: `max(|x - x_H| / |x_H|, |y - y_H| / |y_H|)` at that point, against
  `scipy.optimize.linprog(method="highs")`'s primal `x_H` and duals `y_H` (`eqlin.marginals`).
- ms: time to the tolerance. `minimax.solve` has no stop on a tolerance, so this is the
  steps times the time per step of a fixed-length run (compiled first; best of 5).

MPAX (Lu, Peng, Yang 2024; its raPDHG is PDLP: restarted average PDHG with adaptive step sizes
and primal weight; r2HPDHG its reflected restarted Halpern variant) solves the same LPs with
`eps_abs = eps_rel` = the tolerance and Euclidean norms (the same criterion), dense matrices,
`jax.jit` of `optimize` (compiled first; best of 5, preprocessing included), in a subprocess
(`$MPAX_PYTHON` if set: MPAX may need its own virtualenv). Its evaluations are its
iteration count. HiGHS's time is scipy's wall clock. Everything runs in float64 on the CPU.

    python benchmarks/lp.py            # prints the Markdown table
    python benchmarks/lp.py --write    # also records it in docs/benchmarks.md
"""

import argparse
import json
import os
import subprocess
import sys
import time

import _docs  # benchmarks/_docs.py, beside this script
import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from scipy.optimize import linprog  # noqa: E402

import games  # noqa: E402
import minimax as mx  # noqa: E402

TOLS = (1e-6, 1e-8)
EVERY = 64
SIZES = {(10, 30): 32_768, (50, 150): 131_072}  # (m, n): step budget
# Step sizes: the rescaled matrix has spectral norm <= 1, so these are within each method's
# guarantee (optimistic: lr < 1 / (2 L); extra-gradient: lr < 1 / L).
METHODS = {
    "projected OGDA": (mx.Simultaneous(mx.optimistic_gradient(0.45)), 1),
    "projected EG": (mx.ExtraGradient(optax.sgd(0.9)), 2),
    "alternating GDA": (mx.Alternating(optax.sgd(0.9)), 1),
    "restarted OGDA": (mx.Restarted(mx.Simultaneous(mx.optimistic_gradient(0.45))), 1),
    "restarted EG": (mx.Restarted(mx.ExtraGradient(optax.sgd(0.9))), 2),
    "restarted alternating GDA": (mx.Restarted(mx.Alternating(optax.sgd(0.9))), 1),
}


def _record(players, lp):
    return lp.kkt_error(players), lp.unscale(players)


def highs(lp):
    start = time.perf_counter()
    res = linprog(np.asarray(lp.c), A_eq=np.asarray(lp.A), b_eq=np.asarray(lp.b), method="highs")
    seconds = time.perf_counter() - start
    assert res.status == 0, res.message
    return res.x, res.eqlin.marginals, seconds


def error_vs(x, y, reference) -> float:
    x_h, y_h = reference[:2]
    return max(
        float(np.linalg.norm(x - x_h) / np.linalg.norm(x_h)),
        float(np.linalg.norm(y - y_h) / np.linalg.norm(y_h)),
    )


def best_time(fn, repeats=5) -> float:
    jax.block_until_ready(fn())  # compile
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - start)
    return best


def run_minimax(solver, lp, budget, reference, per_step):
    m, n = lp.A.shape
    z0 = (jnp.zeros(n), jnp.zeros(m))
    sol = mx.solve(lp, solver, z0, steps=budget, save_every=EVERY, save=_record, args=lp)
    kkt, (xs, ys) = np.asarray(sol.trajectory[0]), sol.trajectory[1]
    out = {}
    for tol in TOLS:
        below = np.flatnonzero(kkt <= tol)
        if not below.size:
            out[tol] = {"steps": None, "final_kkt": float(kkt[-1])}
            continue
        i = below[0]
        steps = int(sol.ts[i])
        out[tol] = {
            "steps": steps,
            "error": error_vs(np.asarray(xs[i]), np.asarray(ys[i]), reference),
            "ms": 1e3 * steps * per_step,
        }
    return out


def seconds_per_step(solver, lp, steps=16_384) -> float:
    m, n = lp.A.shape
    z0 = (jnp.zeros(n), jnp.zeros(m))
    return best_time(lambda: mx.solve(lp, solver, z0, steps=steps, save_every=None).players) / steps


MPAX_SCRIPT = r"""
import json, sys, time
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp, numpy as np
import mpax
job = json.loads(sys.stdin.read())
out = []
for p in job["problems"]:
    c, A, b = (jnp.asarray(p[k], jnp.float64) for k in ("c", "A", "b"))
    m, n = A.shape
    lp = mpax.create_lp(c, A, b, jnp.zeros((0, n)), jnp.zeros(0), jnp.zeros(n),
                        jnp.full(n, jnp.inf), use_sparse_matrix=False)
    row = {}
    for name in ("raPDHG", "r2HPDHG"):
        for tol in job["tols"]:
            solver = getattr(mpax, name)(eps_abs=tol, eps_rel=tol, optimality_norm=2)
            run = jax.jit(solver.optimize)
            res = jax.block_until_ready(run(lp))
            best = float("inf")
            for _ in range(5):
                start = time.perf_counter()
                res = jax.block_until_ready(run(lp))
                best = min(best, time.perf_counter() - start)
            row[f"{name} {tol}"] = {
                "x": np.asarray(res.primal_solution).tolist(),
                "y": np.asarray(res.dual_solution).tolist(),
                "iterations": int(res.iteration_count),
                "status": int(res.termination_status), "seconds": best}
    out.append(row)
print("MPAX-JSON" + json.dumps({"version": mpax.__version__, "runs": out}))
"""


def run_mpax(lps):
    """MPAX in a subprocess (its logging and its own compiles stay out of this process), with
    the interpreter of `$MPAX_PYTHON` (e.g. a separate virtualenv) or this one. Returns the
    runs and the package's version, or None and the reason it could not run."""
    python = os.environ.get("MPAX_PYTHON", sys.executable)
    problems = [{k: np.asarray(getattr(lp, k)).tolist() for k in ("c", "A", "b")} for lp in lps]
    version = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('mpax'))"],
        capture_output=True,
        text=True,
    )
    proc = subprocess.run(
        [python, "-c", MPAX_SCRIPT],
        input=json.dumps({"problems": problems, "tols": TOLS}),
        capture_output=True,
        text=True,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("MPAX-JSON")]
    if proc.returncode != 0 or not lines:
        return None, (proc.stderr.strip().splitlines() or ["no output"])[-1]
    result = json.loads(lines[-1].removeprefix("MPAX-JSON"))
    result["version"] = version.stdout.strip() or result["version"]
    return result, None


def cells(runs: list[dict], evals: int, budget: int) -> str:
    """Three table cells for one tolerance: evaluations, error vs HiGHS, milliseconds."""
    reached = [r for r in runs if r["steps"] is not None]
    if len(reached) < len(runs):
        worst = max(r.get("final_kkt", 0.0) for r in runs)
        return (
            f"> {budget * evals:,} ({len(reached)}/{len(runs)}; KKT error up to {worst:.0e}) | | "
        )
    return (
        f"{np.mean([r['steps'] * evals for r in runs]):,.0f} "
        f"| {max(r['error'] for r in runs):.0e} | {np.mean([r['ms'] for r in runs]):.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="random LPs per size")
    parser.add_argument("--write", action="store_true", help="record it in docs/")
    options = parser.parse_args()
    load = os.getloadavg()[0]
    started = time.perf_counter()
    head = " | ".join(f"evaluations to {t:.0e} | error vs HiGHS | ms" for t in TOLS)
    lines = [f"| LP (m x n) | method | {head} |", "|---|---|" + "---:|" * 3 * len(TOLS)]
    notes = []
    for (m, n), budget in SIZES.items():
        label = f"{m} x {n}"
        lps = [
            games.LinearProgram.random(jax.random.key(seed), m, n, rescale=True)
            for seed in range(options.seeds)
        ]
        references = [highs(lp) for lp in lps]
        for lp, ref in zip(lps, references, strict=True):
            assert error_vs(*lp.solution, ref) < 1e-8  # HiGHS finds the optimum built in
        for name, (solver, evals) in METHODS.items():
            per_step = seconds_per_step(solver, lps[0])
            runs = [
                run_minimax(solver, lp, budget, ref, per_step)
                for lp, ref in zip(lps, references, strict=True)
            ]
            row = " | ".join(cells([r[t] for r in runs], evals, budget) for t in TOLS)
            lines.append(f"| {label} | {name} | {row} |")
        mpax, why = run_mpax(lps)
        if mpax is None:
            notes.append(f"MPAX could not run on {label} ({why}).")
        else:
            for solver_name in ("raPDHG", "r2HPDHG"):
                row = []
                for tol in TOLS:
                    runs = []
                    for res, ref in zip(mpax["runs"], references, strict=True):
                        r = res[f"{solver_name} {tol}"]
                        runs.append(
                            {
                                "steps": r["iterations"] if r["status"] == 2 else None,  # optimal
                                "final_kkt": float("nan"),
                                "error": error_vs(np.asarray(r["x"]), np.asarray(r["y"]), ref),
                                "ms": 1e3 * r["seconds"],
                            }
                        )
                    row.append(cells(runs, 1, 0))
                lines.append(
                    f"| {label} | MPAX {mpax['version']} {solver_name} | " + " | ".join(row) + " |"
                )
        cell = f"| reference | {1e3 * np.mean([r[2] for r in references]):.1f}"
        lines.append(f"| {label} | scipy HiGHS | {cell} | {cell} |")
    text = "\n".join(lines)
    print(text)
    for note in notes:
        print(note)
    print(f"({time.perf_counter() - started:.0f} s)")
    if options.write:
        record(text, notes, options.seeds, load)


def record(text, notes, seeds, load) -> None:
    body = "\n".join(
        [
            f"Random feasible LPs (`games.LinearProgram.random`, {seeds} seeds per size, played "
            "with `rescale=True`), from zero, float64, CPU. Evaluations: field evaluations (one "
            "product with A and one with A^T each; two per extra-gradient step; for MPAX its "
            "iterations) until the KKT error (PDLP's relative criteria, Euclidean norms) first "
            "drops to the tolerance, averaged over seeds, at the 64-step granularity of the "
            "record (`> budget` when some seed never got there, with the worst final KKT "
            "error). Error vs HiGHS: the worst over seeds of "
            "`max(|x - x_H| / |x_H|, |y - y_H| / |y_H|)` at that point, against "
            '`scipy.optimize.linprog(method="highs")`. ms: for minimax, evaluations x the time '
            "per step of a fixed-length compiled run (`solve` has no stop on a tolerance); for "
            "MPAX, its jitted `optimize` at that tolerance (preprocessing and termination checks "
            "included); for HiGHS, scipy's wall clock. Step sizes: 0.45 (OGDA), 0.9 (EG, "
            "alternating GDA), within each method's guarantee since the rescaled matrix has "
            "spectral norm at most 1; restarts use the defaults (natural residual, "
            "`check_every=64`, `beta=0.2`).",
            "",
            text,
            "",
            *notes,
            *CONCLUSIONS,
        ]
    )
    _docs.record("lp.py", "Linear programs: restarts, MPAX and HiGHS", body, load)


CONCLUSIONS = [
    "Without restarts, none of the three fixed-step rules reliably reaches a KKT error of 1e-6 "
    "within its budget: the last iterates of optimistic gradient and extra-gradient converge "
    "slowly on LPs, and alternating GDA (PDHG without its extrapolation) does not converge at "
    "all; its iterates cycle while their average converges at rate O(1/t). Restarting from the "
    "average (`minimax.Restarted`, PDLP's scheme) makes all three reach 1e-8. Restarted "
    "alternating GDA is the best of them, at about 2x (10 x 30) to 5x (50 x 150) MPAX's "
    "iterations; restarted OGDA and EG need about twice as many again. MPAX's PDLP adds what "
    "minimax's solvers lack: adaptive step sizes, a primal weight balancing the primal and "
    "dual step sizes, PDHG's extrapolation and more restart criteria, and its lead grows with "
    "the size of the LP. A KKT error of 1e-6 is a solution accurate to about 1e-5 to 1e-4 "
    "relative to HiGHS's, 1e-8 to about 1e-7 to 1e-6, for every method. HiGHS solves LPs this "
    "small exactly in milliseconds: first-order methods pay off on LPs far larger than these "
    "(and on GPUs, in batches, or differentiated). The evaluation counts are deterministic; "
    "the times were taken on a shared machine (see the load average below) and vary by up to "
    "2-3x from run to run.",
]


if __name__ == "__main__":
    main()
