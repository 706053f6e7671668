"""Linear programs from Netlib: minimax.PDHG against MPAX's raPDHG and scipy's HiGHS.

Each LP of `--netlib` (MPS files and `optima.json`, their published optima and MPAX's iterations
to 1e-6) is read with `games.LinearProgram.from_mps` and solved from zero to a relative KKT
error of `--tol` (1e-6) by:

- minimax: `mx.solve(lp, mx.PDHG(tol), lp.init_players(), steps=...)`, float64, dense matrices;
  the answer is `sol.answer`, and the run stops within 64 steps of convergence. Iterations are
  PDHG steps (`sol.state.solver.iteration`); `sol.stats["matvecs"]` counts the products with K
  or K^T (two a step, one more for each rejected step size).
- MPAX (Lu, Peng, Yang 2024), its raPDHG (PDLP's rules) on the same data
  (`mpax.create_lp(c, A, b, G, h, l, u, use_sparse_matrix=False)`, the objective constant set),
  `eps_abs = eps_rel = tol`, Euclidean norms, in a subprocess. MPAX is not a dependency: if it
  cannot be imported, it is installed with pip into `benchmarks/.mpax` (without dependencies
  other than chex and toolz, so that the installed jax is the one measured), or taken from
  `$MPAX_PYTHON`'s environment if that is set.
- HiGHS: `scipy.optimize.linprog(method="highs")`, for the reference and its time.

For each: iterations, the KKT error of the answer by minimax's criterion
(`games.LinearProgram.kkt_error`: PDLP's relative criterion, residuals relative to
`1 + |q|` and `1 + |c|`; MPAX's own criterion divides by `1 + max(|q|, |K x|)` and
`1 + max(|c|, |K^T y|)` instead, which is looser), the relative error of the objective against
the published optimum, `|f - f*| / (1 + |f*|)`, and wall time: the best of `--repeats` calls of
the compiled solve (compiled first; MPAX's `jax.jit(raPDHG.optimize)`, preprocessing included
for both).

    python benchmarks/lp.py                      # prints the Markdown table
    python benchmarks/lp.py --write              # also records it in docs/benchmarks.md
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import _docs  # benchmarks/_docs.py, beside this script
import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
from scipy.optimize import linprog  # noqa: E402

import games  # noqa: E402
import minimax as mx  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MPAX_DIR = Path(__file__).resolve().parent / ".mpax"
STEPS = 200_000


def best_time(fn, repeats: int) -> tuple[object, float]:
    out = jax.block_until_ready(fn())  # compile
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - start)
    return out, best


def run_minimax(lp, tol: float, repeats: int) -> dict:
    solver = mx.PDHG(tol=tol)
    sol, seconds = best_time(
        lambda: mx.solve(lp, solver, lp.init_players(), steps=STEPS, save_every=None, throw=False),
        repeats,
    )
    return {
        "iterations": int(sol.state.solver.iteration),
        "matvecs": int(sol.stats["matvecs"]),
        "restarts": int(sol.stats["restarts"]),
        "converged": sol.result == mx.RESULTS.successful,
        "kkt": float(lp.kkt_error(sol.answer)),
        "objective": float(lp.objective(sol.answer)),
        "seconds": seconds,
    }


def run_highs(lp) -> dict:
    start = time.perf_counter()
    res = linprog(
        np.asarray(lp.c),
        A_ub=-np.asarray(lp.G) if lp.G.shape[0] else None,
        b_ub=-np.asarray(lp.h) if lp.G.shape[0] else None,
        A_eq=np.asarray(lp.A) if lp.A.shape[0] else None,
        b_eq=np.asarray(lp.b) if lp.A.shape[0] else None,
        bounds=np.stack([np.asarray(lp.lower), np.asarray(lp.upper)], axis=1),
        method="highs",
    )
    seconds = time.perf_counter() - start
    assert res.status == 0, res.message
    return {"objective": float(res.fun + lp.objective_constant), "seconds": seconds}


MPAX_SCRIPT = r"""
import json, sys, time
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp, numpy as np
import games, mpax
job = json.loads(sys.stdin.read())
out = {}
for name, path in job["problems"].items():
    lp = games.LinearProgram.from_mps(path)
    qp = mpax.create_lp(*(jnp.asarray(np.asarray(v)) for v in (lp.c, lp.A, lp.b, lp.G, lp.h)),
                        lp.lower, lp.upper, use_sparse_matrix=False)
    qp.objective_constant = float(lp.objective_constant)
    # At the tolerance asked; then, if its answer misses it by PDLP's criterion, at tighter
    # ones until it meets it (its own criterion is looser).
    for eps in [job["tol"] * 10.0**-k for k in range(5)]:
        solver = mpax.raPDHG(eps_abs=eps, eps_rel=eps, optimality_norm=2)
        run = jax.jit(solver.optimize)
        res = jax.block_until_ready(run(qp))
        best = float("inf")
        for _ in range(job["repeats"]):
            start = time.perf_counter()
            res = jax.block_until_ready(run(qp))
            best = min(best, time.perf_counter() - start)
        answer = (jnp.asarray(res.primal_solution), jnp.asarray(res.dual_solution))
        runs = out.setdefault(name, [])
        runs.append({"eps": eps, "iterations": int(res.iteration_count),
                     "status": int(res.termination_status), "kkt": float(lp.kkt_error(answer)),
                     "objective": float(lp.objective(answer)), "seconds": best})
        if runs[-1]["kkt"] <= job["tol"]:
            break
import importlib.metadata
print("MPAX-JSON" + json.dumps({"version": importlib.metadata.version("mpax"), "runs": out}))
"""


def _mpax_env() -> tuple[str, dict]:
    """The interpreter and environment to run MPAX with, installing it if need be."""
    env = dict(os.environ)
    python = os.environ.get("MPAX_PYTHON", sys.executable)
    paths = [str(ROOT), env.get("PYTHONPATH", "")]
    check = [python, "-c", "import mpax"]
    if subprocess.run(check, capture_output=True, env=env).returncode != 0:
        paths.insert(1, str(MPAX_DIR))
        env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        if subprocess.run(check, capture_output=True, env=env).returncode != 0:
            print(f"Installing MPAX into {MPAX_DIR} ...", flush=True)
            subprocess.run(
                [python, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                 str(MPAX_DIR), "mpax", "chex", "toolz"],
                check=True,
            )  # fmt: skip
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return python, env


def run_mpax(paths: dict, tol: float, repeats: int) -> tuple[dict | None, str]:
    """MPAX's runs, and its version (or None and why it could not run)."""
    try:
        python, env = _mpax_env()
    except subprocess.CalledProcessError as error:
        return None, f"could not install MPAX ({error})"
    job = {"problems": {k: str(v) for k, v in paths.items()}, "tol": tol, "repeats": repeats}
    proc = subprocess.run(
        [python, "-c", MPAX_SCRIPT], input=json.dumps(job), capture_output=True, text=True, env=env
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("MPAX-JSON")]
    if proc.returncode != 0 or not lines:
        return None, (proc.stderr.strip().splitlines() or ["no output"])[-1]
    result = json.loads(lines[-1].removeprefix("MPAX-JSON"))
    return result["runs"], result["version"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--netlib", default=str(ROOT.parent / "shared" / "netlib"))
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="these LPs only")
    parser.add_argument("--write", action="store_true", help="record it in docs/benchmarks.md")
    options = parser.parse_args()
    load = os.getloadavg()[0]
    started = time.perf_counter()
    netlib = Path(options.netlib)
    optima = json.loads((netlib / "optima.json").read_text())
    names = options.only or list(optima)
    paths = {name: netlib / f"{name}.mps" for name in names}
    mpax, version = run_mpax(paths, options.tol, options.repeats)
    head = (
        "| LP | rows x cols | solver | iterations | KKT error | objective error | ms |\n"
        "|---|---|---|---:|---:|---:|---:|"
    )
    lines, totals = [head], {"minimax": 0.0, "MPAX": 0.0, "MPAX, strict": 0.0}
    wins = {"iterations": 0, "strict iterations": 0, "time": 0}
    for name in names:
        lp = games.LinearProgram.from_mps(paths[name])
        optimum = optima[name]["optimum"]
        size = f"{lp.K.shape[0]} x {lp.K.shape[1]}"

        def error(objective, optimum=optimum):
            return abs(objective - optimum) / (1 + abs(optimum))

        mine = run_minimax(lp, options.tol, options.repeats)
        highs = run_highs(lp)
        rows = [
            (
                "minimax PDHG",
                f"{mine['iterations']:,}" + ("" if mine["converged"] else " (not converged)"),
                mine,
            )
        ]
        if mpax is not None:
            theirs, strict = mpax[name][0], mpax[name][-1]
            tol = f"{options.tol:.0e}".replace("e-0", "e-")  # as optima.json spells it
            published = optima[name].get(f"mpax_rapdhg_iterations_to_{tol}")
            for run in [theirs] if strict is theirs else [theirs, strict]:
                status = "" if run["status"] == 2 else f" (status {run['status']})"
                note = f" [{published:,}]" if published and run is theirs else ""
                eps = "" if run is theirs else f", eps {run['eps']:.0e}"
                rows.append(
                    (f"MPAX {version} raPDHG{eps}", f"{run['iterations']:,}{status}{note}", run)
                )
            totals["minimax"] += mine["seconds"]
            totals["MPAX"] += theirs["seconds"]
            totals["MPAX, strict"] += strict["seconds"]
            wins["iterations"] += mine["iterations"] <= theirs["iterations"]
            wins["strict iterations"] += mine["iterations"] <= strict["iterations"]
            wins["time"] += mine["seconds"] <= theirs["seconds"]
        for solver, iterations, run in rows:
            lines.append(
                f"| {name} | {size} | {solver} | {iterations} | {run['kkt']:.1e} | "
                f"{error(run['objective']):.1e} | {1e3 * run['seconds']:.1f} |"
            )
        lines.append(
            f"| {name} | {size} | HiGHS (scipy) | | | {error(highs['objective']):.1e} | "
            f"{1e3 * highs['seconds']:.1f} |"
        )
        print(lines[-len(rows) - 1 :], flush=True)
    text = "\n".join(lines)
    notes = []
    if mpax is None:
        notes.append(f"MPAX could not run: {version}.")
    else:
        notes.append(
            f"minimax needed no more iterations than MPAX on {wins['iterations']} of "
            f"{len(names)} LPs ({wins['strict iterations']} of {len(names)} against MPAX run "
            "until its answer meets the tolerance by PDLP's criterion, the `eps` rows) and was "
            f"at least as fast on {wins['time']}; total time {totals['minimax']:.2f} s "
            f"(minimax) against {totals['MPAX']:.2f} s (MPAX; {totals['MPAX, strict']:.2f} s "
            "with the `eps` rows)."
        )
    print(text)
    print("\n".join(notes))
    print(f"({time.perf_counter() - started:.0f} s)")
    if options.write:
        record(text, notes, options, load)


def record(text, notes, options, load) -> None:
    body = "\n".join(
        [
            f"Netlib LPs (`{Path(options.netlib).name}/*.mps`), each solved from zero to a "
            f"relative KKT error of {options.tol:g}, float64, CPU, dense matrices. Iterations: "
            "PDHG steps (in brackets: MPAX's iterations as published with the data set). KKT "
            "error: of each answer by minimax's criterion (`LinearProgram.kkt_error`, PDLP's "
            "relative criterion; MPAX stops by its own, looser one, so its answers can show a "
            "KKT error above the tolerance here: where they do, a second MPAX row, `eps`, is "
            "MPAX run at 10, 100, ... times tighter tolerances until its answer meets the "
            "tolerance by PDLP's criterion). Objective error: `|f - f*| / (1 + |f*|)` "
            "against the published optimum. ms: best of "
            f"{options.repeats} calls of the compiled solve (MPAX: `jax.jit(optimize)`), "
            "preprocessing included; HiGHS: scipy's wall clock.",
            "",
            text,
            "",
            *notes,
        ]
    )
    _docs.record("lp.py", "Linear programs: Netlib, MPAX and HiGHS", body, load)


if __name__ == "__main__":
    main()
