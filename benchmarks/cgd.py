"""Speed of `minimax.CGD` and `minimax.ACGD` against the CGDs package (PyTorch) on MixtureGAN,
and the cost of a step of every solver relative to simultaneous OGDA.

1. Steps per second of `mx.CGD` and `mx.ACGD` side by side with CGDs' `BCGD` and `ACGD` (PyPI
   `CGDs`, run by `benchmarks/_cgds_torch.py` under a separate PyTorch interpreter) on the same
   GAN: `games.MixtureGAN("ring")`, generator and discriminator tanh MLPs of width 64 and depth 2,
   latent size 16, batch 256, float32, a fresh mini-batch every step. CGDs' BCGD/ACGD take one
   loss (zero-sum), so both sides play the original *minimax* GAN: the discriminator minimises
   its BCE loss l_D = E[softplus(-D(x))] + E[softplus(D(G(z)))] and the generator maximises it
   (here the `MinimaxGAN` below, an `mx.AbstractZeroSumGame` with `f = -l_D` over MixtureGAN's
   mini-batches and networks; `games.MixtureGAN` itself is the non-saturating general-sum game).
   Same learning rate for both players on both sides, ACGD's same beta and eps, and the linear
   solves' tolerance mapped as closely as the two stopping rules allow (see `TOLERANCES`).
2. Steps per second of every solver on MixtureGAN's own (non-saturating) game, and the cost of
   a step relative to OGDA (`mx.Simultaneous(mx.optimistic_gradient(lr))`); CGD and ACGD on the
   minimax game (ACGD is zero-sum only), beside OGDA on that game. `--gmres` adds CGD on the
   non-saturating game, where it solves its general-sum block system by GMRES.

Every contender is timed in chunks of about `--chunk-seconds`, interleaved round by round (the
order rotates each round) so that they share the machine's load; each figure is the best chunk
(wall clock until `jax.block_until_ready`, after compilation and an untimed warm-up chunk). The
JAX side runs `mx.solve(..., save_every=None, key=...)` in blocks of a fixed number of steps
(compiled once), every chunk from the point the warm-up reached, so that every chunk times the
same steps (the CG iterations a step needs grow as training goes on, and JAX takes more steps
per chunk than CGDs: continuing would time it further into training). The PyTorch side runs
in one process per method and thread count (`--threads 1` and `2`, `OMP_WAIT_POLICY=PASSIVE`),
kept alive with `_cgds_torch.py --serve` and asked for one chunk at a time; the faster thread
count is compared.
CG iterations per step are counted on the JAX side in a separate, untimed run (the solver
reports them in `sol.stats`), on the PyTorch side by the script's own counters.

    python benchmarks/cgd.py            # prints the tables
    python benchmarks/cgd.py --write    # also records them in docs/benchmarks.md
"""

import argparse
import json
import math
import os
import subprocess
import tempfile
import time
from pathlib import Path

import _docs  # benchmarks/_docs.py, beside this script
import equinox as eqx
import jax
import jax.numpy as jnp
import optax

import games
import minimax as mx

HERE = Path(__file__).resolve().parent
TORCH_SCRIPT = HERE / "_cgds_torch.py"
DEFAULT_TORCH_PYTHON = "/work/torchenv/bin/python"

LR = 1e-3  # both players, every solver, both sides
BETA = 0.99  # ACGD's second-moment decay (CGDs' default)
EPS = 1e-8  # ACGD's eps, passed to both sides (mx.ACGD's default; CGDs' own default is 1e-5)
# The linear solve's tolerance, as norms of the residual r = b - A w: relative 1e-4, absolute
# 1e-6. Both sides stop on the same rule, written two ways: CGDs (BCGD/ACGD) when
# ||r||^2 < tol ||b||^2 or ||r||^2 < atol, squared 2-norms, so it gets tol = 1e-8, atol = 1e-12
# (`_cgds_torch.py --tol-kind norm` squares them); `mx.CGD`/`mx.ACGD` when
# ||r|| <= max(rtol ||b||, atol), so they get rtol = 1e-4, atol = 1e-6.
RTOL, ATOL = 1e-4, 1e-6
TOLERANCES = (
    f"residual norm `||r|| <= {RTOL:g} ||b||` or `||r|| <= {ATOL:g}`, the same rule on both "
    f"sides: CGDs gets `tol={RTOL**2:g}, atol={ATOL**2:g}` (it compares squared 2-norms: "
    "`||r||^2 < tol ||b||^2` or `||r||^2 < atol`); `mx.CGD`/`mx.ACGD` get "
    f"`rtol={RTOL:g}, atol={ATOL:g}` (`||r|| <= max(rtol ||b||, atol)`); both check the warm "
    "start before the first iteration"
)
WIDTH, DEPTH, LATENT, BATCH = 64, 2, 16, 256
FAST_BLOCK, SLOW_BLOCK = 256, 64  # steps per `mx.solve` call (each compiled once)


class MinimaxGAN(mx.AbstractZeroSumGame):
    """The minimax (saturating) GAN on MixtureGAN's data and networks, as CGDs plays it: the
    generator `x` minimises and the discriminator `y` maximises `f = -l_D`, minus the
    discriminator's BCE loss on the mini-batch that `gan.losses` draws for `key`."""

    gan: games.MixtureGAN

    def value(self, x, y, args=None, key=None):
        return -self.gan.losses((x, y), args, key)[1]  # XLA drops the unused l_G

    def equilibrium(self, near=None):
        return self.gan.equilibrium(near)


def loadavg() -> float:
    return os.getloadavg()[0]


class JaxRun:
    """One solver on one game: `mx.solve` in blocks of `block` steps, each continuing the last.
    Every timed chunk (and the count of CG iterations) starts again from the point reached by
    the warm-up, so that every chunk times the same steps: the linear systems, and the CG
    iterations they need, change as training goes on, and JAX takes more steps per chunk than
    CGDs, which would otherwise time it further into training."""

    def __init__(self, game, solver, players, key, block: int):
        self.game, self.solver, self.key, self.block = game, solver, key, block
        self.players, self.state = players, None
        self.origin = None
        self.blocks = 1

    def _solve(self, steps=None):
        sol = mx.solve(
            self.game,
            self.solver,
            self.players,
            steps=self.block if steps is None else steps,
            key=self.key,
            state=self.state,
            save_every=None,
        )
        jax.block_until_ready(sol.players)
        self.players, self.state = sol.players, sol.state
        return sol

    def warm_up(self, chunk_seconds: float) -> None:
        """Compile, then time one untimed block to size the chunks."""
        self._solve()
        start = time.perf_counter()
        self._solve()
        self.resize(chunk_seconds, self.block / (time.perf_counter() - start))
        self.origin = self.players, self.state

    def resize(self, chunk_seconds: float, rate: float) -> None:
        """Chunks of about `chunk_seconds` at `rate` steps per second (whole blocks)."""
        self.blocks = max(1, round(chunk_seconds * rate / self.block))

    def chunk(self) -> dict:
        self.players, self.state = self.origin
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(self.blocks):
            self._solve()
        return {
            "steps": self.blocks * self.block,
            "seconds": time.perf_counter() - start,
            "cpu_seconds": time.process_time() - cpu,
        }

    def count_iterations(self, steps: int) -> float:
        """CG iterations per step over the `steps` steps after the warm-up, as the solver
        reports them (`sol.stats["linear_solve_steps"]`, summed over the run)."""
        self.players, self.state = self.origin
        sol = self._solve(steps)
        return float(sol.stats["linear_solve_steps"]) / steps


class TorchRun:
    """A `_cgds_torch.py --serve` process: one CGDs method at one thread count."""

    def __init__(self, python: str, method: str, threads: int):
        self.method, self.threads = method, threads
        command = [
            python,
            str(TORCH_SCRIPT),
            "--serve",
            f"--method={method}",
            f"--threads={threads}",
            f"--lr={LR}",
            "--tol-kind=norm",
            f"--tol={RTOL}",
            f"--atol={ATOL}",
            f"--beta={BETA}",
            f"--eps={EPS}",
            "--warmup=3",
        ]
        self.stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed by `close`)
        env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")  # libgomp spins otherwise
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env=env,
        )
        self.steps = 10
        self.settings = None

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.stderr.seek(0)
            raise RuntimeError(
                f"CGDs {self.method} (threads {self.threads}) exited: {self.stderr.read()[-2000:]}"
            )
        out = json.loads(line)
        if "error" in out:
            raise RuntimeError(f"CGDs {self.method} (threads {self.threads}): {out['error']}")
        return out

    def wait_ready(self) -> None:
        self.settings = self._read()

    def _run(self, steps: int) -> dict:
        self.proc.stdin.write(f"{steps}\n")
        self.proc.stdin.flush()
        return self._read()

    def warm_up(self, chunk_seconds: float) -> dict:
        """Two untimed chunks, the second sized by the first; returns the second's record."""
        first = self._run(self.steps)["steps_per_second"]
        self.resize(chunk_seconds, first)
        out = self._run(self.steps)
        self.resize(chunk_seconds, max(first, out["steps_per_second"]))
        return out

    def resize(self, chunk_seconds: float, rate: float) -> None:
        self.steps = max(1, round(chunk_seconds * rate))

    def chunk(self) -> dict:
        return self._run(self.steps)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.stderr.close()


def solvers(iterations: dict[str, int], gmres: bool) -> dict:
    """Name -> (game kind, solver, block): every solver timed, at the shared learning rate."""
    sgd, ogda = optax.sgd(LR), mx.optimistic_gradient(LR)
    k_cgd, k_acgd = iterations["bcgd"], iterations["acgd"]
    general_sum_cgd = {"CGD (GMRES)": ("gan", mx.CGD(LR, rtol=RTOL, atol=ATOL), SLOW_BLOCK)}
    return {
        "GDA": ("gan", mx.Simultaneous(sgd), FAST_BLOCK),
        "OGDA": ("gan", mx.Simultaneous(ogda), FAST_BLOCK),
        "OAdam": ("gan", mx.Simultaneous(mx.optimistic_adam(LR)), FAST_BLOCK),
        "Alternating GDA": ("gan", mx.Alternating(sgd), FAST_BLOCK),
        "ExtraGradient": ("gan", mx.ExtraGradient(sgd), FAST_BLOCK),
        "PastExtraGradient": ("gan", mx.PastExtraGradient(sgd), FAST_BLOCK),
        "ConsensusOptimization": ("gan", mx.ConsensusOptimization(sgd), FAST_BLOCK),
        "SGA": ("gan", mx.SGA(sgd), FAST_BLOCK),
        "Lookahead(OGDA)": ("gan", mx.Lookahead(mx.Simultaneous(ogda)), FAST_BLOCK),
        **(general_sum_cgd if gmres else {}),  # compiles slowly: only with --gmres
        "OGDA, minimax game": ("minimax", mx.Simultaneous(ogda), FAST_BLOCK),
        "CGD": ("minimax", mx.CGD(LR, rtol=RTOL, atol=ATOL), SLOW_BLOCK),
        "ACGD": ("minimax", mx.ACGD(LR, beta=BETA, eps=EPS, rtol=RTOL, atol=ATOL), SLOW_BLOCK),
        # Warm-started as CGDs is: the same algorithm, one more matrix product per step.
        "CGD, warm start": (
            "minimax",
            mx.CGD(LR, rtol=RTOL, atol=ATOL, warm_start=True),
            SLOW_BLOCK,
        ),
        "ACGD, warm start": (
            "minimax",
            mx.ACGD(LR, beta=BETA, eps=EPS, rtol=RTOL, atol=ATOL, warm_start=True),
            SLOW_BLOCK,
        ),
        # The same number of CG iterations as CGDs took in its warm-up (rtol = atol = 0: every
        # solve takes exactly `max_steps` iterations): the cost at equal linear-algebra work.
        f"CGD, {k_cgd} CG it.": (
            "minimax",
            mx.CGD(LR, rtol=0.0, atol=0.0, max_steps=k_cgd),
            SLOW_BLOCK,
        ),
        f"ACGD, {k_acgd} CG it.": (
            "minimax",
            mx.ACGD(LR, beta=BETA, eps=EPS, rtol=0.0, atol=0.0, max_steps=k_acgd),
            SLOW_BLOCK,
        ),
    }


def measure(options) -> dict:
    load_start = loadavg()
    gan = games.MixtureGAN("ring", batch_size=BATCH, latent_size=LATENT)
    games_ = {"gan": gan, "minimax": MinimaxGAN(gan)}
    players = gan.init_players(
        jax.random.key(0), width=WIDTH, depth=DEPTH, activation=jnp.tanh, dtype=jnp.float32
    )
    key = jax.random.key(1)

    torch_runs = {}
    if not options.no_torch:
        if not Path(options.torch_python).exists():
            raise SystemExit(
                f"No PyTorch interpreter at {options.torch_python}: pass --torch-python "
                "(a Python with torch and CGDs) or --no-torch."
            )
        for method in ("bcgd", "acgd"):
            for threads in (1, 2):
                torch_runs[f"CGDs {method}, {threads} thr."] = TorchRun(
                    options.torch_python, method, threads
                )
    runs = {}
    try:
        t0 = time.perf_counter()
        iterations = {"bcgd": 1, "acgd": 4}  # without PyTorch: the counts seen on this game
        for name, run in torch_runs.items():
            run.wait_ready()
            warm = run.warm_up(options.chunk_seconds)
            if run.threads == 1:  # the warm-up's CG iterations, for the equal-work rows
                iterations[run.method] = max(1, round(warm["cg_iterations"]["mean"]))
            print(f"{name}: ready, {run.steps} steps a chunk", flush=True)
        for name, (kind, solver, block) in solvers(iterations, options.gmres).items():
            start = time.perf_counter()
            run = JaxRun(games_[kind], solver, players, key, block)
            run.warm_up(options.chunk_seconds)
            runs[name] = run
            print(
                f"{name}: compiled and warm in {time.perf_counter() - start:.1f} s, "
                f"{run.blocks * run.block} steps a chunk",
                flush=True,
            )
        runs.update(torch_runs)
        print(f"setup {time.perf_counter() - t0:.0f} s; timing {options.rounds} rounds", flush=True)
        chunks = {name: [] for name in runs}
        loads = []
        names = list(runs)
        for r in range(options.rounds):
            k = (r * len(names)) // options.rounds
            for name in names[k:] + names[:k]:  # rotate who goes first
                chunks[name].append(runs[name].chunk())
            if r == 0:  # resize every chunk by the first round (warm-ups are noisier)
                for name, run in runs.items():
                    run.resize(options.chunk_seconds, best(chunks[name])[0])
            loads.append(loadavg())
            print(f"round {r + 1}: load {loads[-1]:.2f}", flush=True)
    finally:
        for run in torch_runs.values():
            run.close()
    counted = ("CGD", "ACGD", "CGD, warm start", "ACGD, warm start")
    counts = {name: runs[name].count_iterations(options.count_steps) for name in counted}
    return {
        "chunks": chunks,
        "counts": counts,
        "iterations": iterations,
        "torch": {name: run.settings for name, run in torch_runs.items()},
        "load": (load_start, loadavg()),
        "round_loads": loads,
    }


def best(chunks: list[dict]) -> tuple[float, float]:
    """(steps/s of the fastest chunk, least CPU ms per step of any chunk)."""
    rate = max(c["steps"] / c["seconds"] for c in chunks)
    cpu = min(1e3 * c["cpu_seconds"] / c["steps"] for c in chunks)
    return rate, cpu


def cgds_iterations(chunks: list[dict]) -> float:
    total = sum(c["cg_iterations"]["total"] for c in chunks)
    return total / sum(c["steps"] for c in chunks)


def tables(m: dict) -> tuple[str, str, list[str]]:
    chunks, counts, notes = m["chunks"], m["counts"], []
    rates = {name: best(c) for name, c in chunks.items()}
    k_cgd, k_acgd = m["iterations"]["bcgd"], m["iterations"]["acgd"]
    comparison = [
        "| minimax | steps/s | CPU ms/step | CG it./step | CGDs | steps/s (1 thr. / 2 thr.) "
        "| CPU ms/step | CG it./step | minimax / CGDs |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    pairs = [
        ("CGD", "bcgd", "BCGD", None),
        ("ACGD", "acgd", "ACGD", None),
        ("CGD, warm start", "bcgd", "BCGD", None),
        ("ACGD, warm start", "acgd", "ACGD", None),
        (f"CGD, {k_cgd} CG it.", "bcgd", "BCGD", k_cgd),
        (f"ACGD, {k_acgd} CG it.", "acgd", "ACGD", k_acgd),
    ]
    for name, method, label, fixed in pairs:
        rate, cpu = rates[name]
        its = counts[name] if fixed is None else fixed
        torch_names = [f"CGDs {method}, {t} thr." for t in (1, 2)]
        if not all(t in rates for t in torch_names):
            comparison.append(
                f"| `{name}` | {rate:,.0f} | {cpu:.2f} | {its:.2f} | - | - | - | - | - |"
            )
            continue
        (r1, c1), (r2, c2) = (rates[t] for t in torch_names)
        fast = torch_names[0] if r1 >= r2 else torch_names[1]
        t_rate, t_cpu = rates[fast]
        rates_text = f"**{r1:,.0f}** / {r2:,.0f}" if r1 >= r2 else f"{r1:,.0f} / **{r2:,.0f}**"
        comparison.append(
            f"| `{name}` | {rate:,.0f} | {cpu:.2f} | {its:.2f} | {label} | {rates_text} "
            f"| {t_cpu:.2f} | {cgds_iterations(chunks[fast]):.2f} | **{rate / t_rate:.2f}x** |"
        )
    for method in ("bcgd", "acgd"):
        r1, r2 = (rates.get(f"CGDs {method}, {t} thr.", (0, 0))[0] for t in (1, 2))
        if r1 or r2:
            notes.append(f"CGDs {method.upper()}: {'1 thread' if r1 >= r2 else '2 threads'} faster")
    ogda = rates["OGDA"][0]
    ogda_minimax = rates["OGDA, minimax game"][0]
    rows = [
        ("GDA", "`Simultaneous(sgd)`", "non-saturating"),
        ("OGDA", "`Simultaneous(optimistic_gradient)`", "non-saturating"),
        ("OAdam", "`Simultaneous(optimistic_adam)`", "non-saturating"),
        ("Alternating GDA", "`Alternating(sgd)`", "non-saturating"),
        ("ExtraGradient", "`ExtraGradient(sgd)`", "non-saturating"),
        ("PastExtraGradient", "`PastExtraGradient(sgd)`", "non-saturating"),
        ("ConsensusOptimization", "`ConsensusOptimization(sgd)`", "non-saturating"),
        ("SGA", "`SGA(sgd)`", "non-saturating"),
        ("Lookahead(OGDA)", "`Lookahead(Simultaneous(optimistic_gradient))`", "non-saturating"),
        ("CGD (GMRES)", "`CGD` (general-sum: GMRES, rtol/atol as above)", "non-saturating"),
        ("OGDA, minimax game", "`Simultaneous(optimistic_gradient)`", "minimax"),
        ("CGD", "`CGD` (zero-sum: CG)", "minimax"),
        ("ACGD", "`ACGD`", "minimax"),
    ]
    cost = [
        "| solver | game | steps/s | CPU ms/step | cost per step (x OGDA) "
        "| x OGDA on the same game |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, label, kind in rows:
        if name not in rates:
            continue
        rate, cpu = rates[name]
        same = ogda if kind == "non-saturating" else ogda_minimax
        cost.append(
            f"| {label} | {kind} | {rate:,.0f} | {cpu:.2f} | {ogda / rate:.2f} "
            f"| {same / rate:.2f} |"
        )
    return "\n".join(comparison), "\n".join(cost), notes


def body(m: dict, comparison: str, cost: str, notes: list[str], options) -> str:
    torch = next(iter(m["torch"].values()), None)
    versions = (
        f"torch {torch['torch_version']}, CGDs {torch['cgds_version']}" if torch else "no PyTorch"
    )
    n_params = torch["num_params"] if torch else None
    load_start, load_end = m["load"]
    return "\n".join(
        [
            "CGD and ACGD against the CGDs package (PyTorch; "
            f"{versions}) on `games.MixtureGAN('ring')`: tanh MLPs of width {WIDTH} and depth "
            f"{DEPTH}, latent {LATENT}, batch {BATCH}, float32, a fresh mini-batch every step"
            + (
                f" ({n_params['generator']:,} generator and {n_params['discriminator']:,} "
                "discriminator parameters)"
                if n_params
                else ""
            )
            + ". CGDs' BCGD and ACGD are zero-sum, so both sides play the minimax GAN: the "
            "discriminator minimises its BCE loss, the generator maximises it (on the JAX side an "
            "`mx.AbstractZeroSumGame` with `f = -l_D` over MixtureGAN's mini-batches and "
            f"networks). Learning rate {LR:g} for both players; ACGD with beta {BETA:g} and eps "
            f"{EPS:g} on both sides. Linear-solve tolerance: {TOLERANCES}. CG iterations per "
            "step are shown. `CGD` and `ACGD` start each solve from zero (their default); CGDs "
            "starts from the last solution, which costs one more product with the matrix (two "
            "Hessian-vector products) for the starting residual: the `warm start` rows "
            "(`warm_start=True`) are the same algorithm as CGDs'. The `N CG it.` rows run "
            "`mx.CGD`/`mx.ACGD` with `rtol=atol=0, max_steps=N`, exactly the (rounded) number "
            "of iterations CGDs took, the cost at equal linear algebra (the two sides' networks "
            "and batches differ, so their linear systems, and the iterations they need, can "
            "differ too). Best chunk of "
            f"{options.rounds} of about {options.chunk_seconds:g} s each (sized by the first "
            "round), wall clock, "
            "interleaved with every other contender below, after compilation and a warm-up "
            "chunk; JAX runs `mx.solve(..., save_every=None, key=...)` in compiled blocks of "
            f"{SLOW_BLOCK} steps, every chunk from the point its warm-up (two blocks) reached, so "
            "that it times the same stretch of training each time (CG iterations grow as "
            "training goes on); CGDs runs in `benchmarks/_cgds_torch.py --serve` processes "
            "(`OMP_WAIT_POLICY=PASSIVE`), at 1 and 2 threads; the faster one (bold) is compared"
            + (f" ({'; '.join(notes)})" if notes else "")
            + ". CPU ms/step is the process's CPU time (all its threads: XLA may run an op on "
            "both cores, so it can exceed the wall clock), the least of any chunk. CG "
            "iterations: on the JAX side counted in a separate, untimed run of the "
            f"{options.count_steps} steps after the warm-up; on the CGDs side over its timed "
            "chunks. "
            "`python benchmarks/cgd.py --profile` times the ingredients of an `mx.CGD` step "
            "(linearisation, CG, `mx.solve`'s loop) against a hand-written CG step.",
            "",
            comparison,
            "",
            "The cost of a step of every solver on the same MixtureGAN, relative to simultaneous "
            f"OGDA (`Simultaneous(optimistic_gradient({LR:g}))`), measured in the same run: the "
            "first-order solvers with `optax.sgd` or the optimistic rule at the same learning "
            "rate, on MixtureGAN's own non-saturating game; `CGD` and `ACGD` with the tolerance "
            "above on the minimax game (ACGD is zero-sum only), with OGDA on that game beside "
            "them"
            + (
                "; `CGD (GMRES)` is CGD on the non-saturating game, a general-sum block system "
                "solved by GMRES"
                if options.gmres
                else ""
            )
            + f". Blocks of {FAST_BLOCK} steps for the first-order solvers.",
            "",
            cost,
            "",
            f"The machine was shared with other work (load average {load_start:.1f} at the "
            f"start, {min(m['round_loads']):.1f} to {max(m['round_loads']):.1f} during the timed "
            f"rounds, {load_end:.1f} at the end, on 2 cores): the best chunk of each filters "
            "some of it, but the ratios moved by tens of percent between runs; a rerun on a "
            "quiet machine would refresh these numbers.",
        ]
    )


# ---------------------------------------------------------------------------------------------
# `--profile`: where the time of an `mx.CGD` step goes (printed, not recorded).


def _tree_dot(a, b):
    return sum(jnp.vdot(u, v) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def _axpy(a, x, y):
    """`a * x + y` over PyTrees."""
    return jax.tree.map(lambda u, v: a * u + v, x, y)


def hand_cgd_step(game, static, iterations: int, transpose: bool):
    """`mx.CGD`'s zero-sum step (CG on the generator's system, warm-started, the
    discriminator's step in closed form) written out without lineax: plain CG for exactly
    `iterations` iterations. `transpose=False` linearises each player's gradient along the
    other player (`jax.linearize` twice, two primal passes, as `mx.CGD` does on a general-sum
    game); `transpose=True` linearises the field once along `y` and takes `J10 = -J01^T` by
    `jax.linear_transpose`, as `mx.CGD` does on a zero-sum game."""

    def step(params, warm, key):
        x, y = params

        def field(p):
            return game.field(p, static, None, key)

        if transpose:
            (f0, f1), jac_y = jax.linearize(lambda y_: field((x, y_)), y)

            def j01(v):
                return jac_y(v)[0]

            j01_t = jax.linear_transpose(j01, y)

            def j10(u):
                return jax.tree.map(jnp.negative, j01_t(u)[0])
        else:
            f0, j01 = jax.linearize(lambda y_: field((x, y_))[0], y)
            f1, j10 = jax.linearize(lambda x_: field((x_, y))[1], x)

        def scaled(t):
            return jax.tree.map(lambda u: LR * u, t)

        def matvec(c):
            return _axpy(-1.0, j01(scaled(j10(scaled(c)))), c)

        rhs = _axpy(-1.0, j01(scaled(f1)), f0)
        r = _axpy(-1.0, matvec(warm), rhs)

        def body(_, carry):
            c, r, p, gamma = carry
            ap = matvec(p)
            alpha = gamma / _tree_dot(p, ap)
            c, r = _axpy(alpha, p, c), _axpy(-alpha, ap, r)
            new_gamma = _tree_dot(r, r)
            return c, r, _axpy(new_gamma / gamma, p, r), new_gamma

        c = jax.lax.fori_loop(0, iterations, body, (warm, r, r, _tree_dot(r, r)))[0]
        dx = jax.tree.map(lambda u: -LR * u, c)
        dy = jax.tree.map(lambda u: -LR * u, _axpy(1.0, j10(dx), f1))
        return (_axpy(1.0, dx, x), _axpy(1.0, dy, y)), c

    return step


def profile(options) -> None:
    """Steps per second of an `mx.CGD` step's ingredients, interleaved, best of `--rounds`."""
    load_start = loadavg()
    gan = games.MixtureGAN("ring", batch_size=BATCH, latent_size=LATENT)
    game = MinimaxGAN(gan)
    players = gan.init_players(
        jax.random.key(0), width=WIDTH, depth=DEPTH, activation=jnp.tanh, dtype=jnp.float32
    )
    params, static = eqx.partition(players, eqx.is_array)
    key = jax.random.key(1)
    steps = SLOW_BLOCK

    def scan(step):
        @jax.jit
        def run(params, warm):
            def body(carry, t):
                return step(*carry, jax.random.fold_in(key, t)), None

            return jax.lax.scan(body, (params, warm), jnp.arange(steps))[0]

        return lambda: run(params, jax.tree.map(jnp.zeros_like, params[0]))

    def gradient_step(params, warm, key):
        f0, f1 = game.field(params, static, None, key)
        return (_axpy(-LR, f0, params[0]), _axpy(-LR, f1, params[1])), warm

    def step_scan(solver):
        """`solver.step` in a plain `lax.scan`: `mx.solve` without its loop's guards."""

        @jax.jit
        def run(params, state):
            def body(carry, t):
                players, state = solver.step(
                    game, eqx.combine(carry[0], static), carry[1], None, jax.random.fold_in(key, t)
                )
                return (eqx.filter(players, eqx.is_array), state), None

            return jax.lax.scan(body, (params, state), jnp.arange(steps))[0]

        state = solver.init(game, players, None, key)
        return lambda: run(params, state)

    def solve(solver):
        state = mx.solve(game, solver, players, steps=steps, key=key, save_every=None).state
        return lambda: (
            mx.solve(
                game, solver, players, steps=steps, key=key, save_every=None, state=state
            ).players
        )

    # One step of the hand-written CGD is `mx.CGD`'s step (same iterations, same warm start).
    solver = mx.CGD(LR, rtol=0.0, atol=0.0, max_steps=2)
    ours = eqx.filter(mx.solve(game, solver, players, steps=1, key=key).players, eqx.is_array)
    for transpose in (False, True):
        step = jax.jit(hand_cgd_step(game, static, 2, transpose))
        hand = step(params, jax.tree.map(jnp.zeros_like, params[0]), jax.random.fold_in(key, 0))
        for a, b, p in zip(*map(jax.tree.leaves, (hand[0], ours, params)), strict=True):
            if not jnp.allclose(a - p, b - p, rtol=1e-3, atol=1e-3 * jnp.max(jnp.abs(b - p))):
                raise RuntimeError("the hand-written CGD step disagrees with mx.CGD's")
    contenders = {"gradient step (scan: one field evaluation, plain update)": scan(gradient_step)}
    for k in (1, 3):
        solver = mx.CGD(LR, rtol=0.0, atol=0.0, max_steps=k)
        contenders[f"CGD {k} CG it.: mx.solve(mx.CGD(rtol=atol=0, max_steps={k}))"] = solve(solver)
        contenders[f"CGD {k} CG it.: mx.CGD.step in a plain lax.scan"] = step_scan(solver)
        contenders[f"CGD {k} CG it.: hand-written CG, two linearisations"] = scan(
            hand_cgd_step(game, static, k, False)
        )
        contenders[f"CGD {k} CG it.: hand-written CG, one linearisation + transpose"] = scan(
            hand_cgd_step(game, static, k, True)
        )
    contenders["mx.CGD(rtol=1e-4, atol=1e-6)"] = solve(mx.CGD(LR, rtol=RTOL, atol=ATOL))
    for fn in contenders.values():
        jax.block_until_ready(fn())
    best = dict.fromkeys(contenders, (math.inf, math.inf))
    names = list(contenders)
    for r in range(options.rounds):
        k = (r * len(names)) // options.rounds
        for name in names[k:] + names[:k]:
            start, cpu = time.perf_counter(), time.process_time()
            jax.block_until_ready(contenders[name]())
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    print(f"| {steps} steps a call, best of {options.rounds} | ms/step | CPU ms/step |")
    print("|---|---:|---:|")
    for name, (wall, cpu) in best.items():
        print(f"| {name} | {1e3 * wall / steps:.2f} | {1e3 * cpu / steps:.2f} |")
    print(f"(load average {load_start:.1f} at the start, {loadavg():.1f} at the end)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description="CGD and ACGD against CGDs (PyTorch) on MixtureGAN, and every solver's "
        "cost per step relative to OGDA."
    )
    parser.add_argument("--rounds", type=int, default=8, help="timed chunks per contender")
    parser.add_argument("--chunk-seconds", type=float, default=0.3, help="about, per chunk")
    parser.add_argument("--count-steps", type=int, default=128, help="steps to count CG its. on")
    parser.add_argument(
        "--torch-python",
        default=os.environ.get("CGDS_PYTHON", DEFAULT_TORCH_PYTHON),
        help="a Python with torch and CGDs (default $CGDS_PYTHON or /work/torchenv/bin/python)",
    )
    parser.add_argument("--no-torch", action="store_true", help="JAX side only")
    parser.add_argument(
        "--gmres",
        action="store_true",
        help="also time mx.CGD on the non-saturating game (general-sum: GMRES; slow to compile)",
    )
    parser.add_argument("--write", action="store_true", help="record it in docs/")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead, time the ingredients of an mx.CGD step (printed, not recorded)",
    )
    options = parser.parse_args()
    if options.profile:
        profile(options)
        return
    start = time.perf_counter()
    m = measure(options)
    comparison, cost, notes = tables(m)
    text = body(m, comparison, cost, notes, options)
    print(text)
    print(f"({time.perf_counter() - start:.0f} s)")
    if options.write:
        title = "CGD and ACGD against CGDs (PyTorch), and every solver's cost per step"
        _docs.record("cgd.py", title, text, m["load"][0])


if __name__ == "__main__":
    main()
