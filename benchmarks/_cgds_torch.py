"""The PyTorch side of `benchmarks/cgd.py`: steps per second of the CGDs package on MixtureGAN.

A standalone script, run with a Python that has `torch` and `cgds` (PyPI "CGDs", imported as
`CGDs`) installed, not with the project's JAX environment, e.g.

    /work/torchenv/bin/python benchmarks/_cgds_torch.py --method acgd --steps 50

It builds the same 2-D mixture-of-Gaussians GAN as `games.MixtureGAN("ring")` with
`init_players(width=64, depth=2, activation=tanh)`: 8 modes on the circle of radius 2, std 0.02,
a fresh batch of 256 data points and 256 latent draws z ~ N(0, I_16) at every step, generator
MLP 16 -> 64 -> 64 -> 2 and discriminator MLP 2 -> 64 -> 64 -> 1 (tanh hidden activations,
linear output, PyTorch's default `nn.Linear` init U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights
and biases, the same distribution as `eqx.nn.Linear`), float32. It then times `--steps` steps of
one CGDs optimizer after `--warmup` untimed steps and prints one JSON line on stdout (anything
the package prints goes to stderr).

Methods and losses (with logits d_real = D(x), d_fake = D(G(z)), sp = softplus):

- `bcgd` (`CGDs.BCGD`, competitive gradient descent) and `acgd` (`CGDs.ACGD`, adaptive CGD)
  only take a zero-sum game: one loss, `max_params` ascend it and `min_params` descend it. As in
  the CGDs authors' own GAN training (Implicit-Competitive-Regularization, `train_simul.py`:
  `ACGD/BCGD(max_params=G.parameters(), min_params=D.parameters())`,
  `loss = get_loss('JSD', g_loss=False, d_real, d_fake)`, i.e.
  `BCEWithLogits(d_real, 1) + BCEWithLogits(d_fake, 0)`), the loss is the discriminator's loss

      loss = E[sp(-d_real)] + E[sp(d_fake)] = -(E[log D(x)] + E[log(1 - D(G(z)))])

  minimised by D and maximised by G: the original *minimax* (saturating) GAN. Its D loss is
  exactly MixtureGAN's l_D; its G loss (-l_D) is not MixtureGAN's non-saturating l_G, which a
  zero-sum solver cannot express. The cost of a step is the same kind: two first-order
  gradients with graph, mixed Hessian-vector products by double backward, and CG.
- `gacgd` (`CGDs.GACGD`, general-sum adaptive CGD with GMRES) takes two losses, so with
  `--loss non-saturating` (its default) it plays MixtureGAN's game exactly:
  l_G = E[sp(-d_fake)] for G (x player), l_D = E[sp(-d_real)] + E[sp(d_fake)] for D (y player).
  `--loss minimax` gives it the zero-sum pair (-l_D, l_D) instead.

Tolerances (`--tol`, `--atol`) are passed to the package as they are (`--tol-kind cgds`,
default). Mind their meaning there: BCGD/ACGD's CG stops when ||r||^2 < tol * ||b||^2 or
||r||^2 < atol -- squared norms, so tol=1e-8 means a relative residual of 1e-4 -- while GACGD's
GMRES stops when ||r|| < tol * ||b|| or ||r|| < atol. `--tol-kind norm` takes --tol/--atol as
norm tolerances (||r|| <= max(tol * ||b||, atol), as in `jax.scipy.sparse.linalg.cg`) and squares
them for BCGD/ACGD. Defaults are the package's: tol=1e-12, atol=1e-20 for BCGD/ACGD; tol=1e-5,
atol=1e-6 for GACGD.

The JSON line has "method", "steps", "seconds" (wall clock of the timed steps),
"steps_per_second", "cpu_seconds" (process CPU time of the timed steps), "step_seconds"
(median / min / max wall clock of one step), "torch_version", "cgds_version", "cg_iterations"
(linear-solver iterations over the timed steps: total, mean, min, max per step), "hvp_per_step"
(mixed Hessian-vector products per step, counted by wrapping the package's `Hvp_vec`), and the
settings used. On an error (e.g. CGDs' "hvp Nan" once training diverges) it has "error",
"warmup_done" and "steps_done" instead of the timings, and the exit status is 1.
`--no-count` leaves the package unwrapped (no iteration counts).

`--serve` (used by `benchmarks/cgd.py`, to interleave these timings with its own) keeps the
process alive instead: after the warm-up it prints the settings with "ready": true, then for
every line N read from stdin times N further steps (training goes on from where the last chunk
stopped) and prints one JSON line with that chunk's "steps", "seconds", "steps_per_second",
"cpu_seconds", "step_seconds", "cg_iterations", "hvp_per_step", "final_loss_d" and
"loadavg_end". It exits (status 0) when stdin closes or reads "quit"; on an error it prints
{"error", "steps_done"} and exits with status 1.

Timing caveat: with `--threads 2` (the default) on a 2-core machine that is also busy with other
processes, libgomp's default spin-waiting makes PyTorch many times slower (seen here: 2.6 vs 18
steps/s for ACGD at load ~6); `OMP_WAIT_POLICY=PASSIVE` in the environment (read when torch
loads, so set it before starting this script) or `--threads 1` avoids that. The JSON records
"omp_wait_policy" and the 1-minute load average at the start and end.
"""

import argparse
import contextlib
import importlib.metadata
import json
import math
import os
import statistics
import sys
import time
import warnings

import CGDs
import torch
import torch.nn as nn
import torch.nn.functional as F
from CGDs import (
    acgd as _acgd_mod,
    cgd as _cgd_mod,
    cgd_utils as _cgd_utils,
    gmres_acgd as _gmres_acgd_mod,
)

NUM_MODES = 8
RADIUS = 2.0
STD = 0.02
LATENT = 16
DATA_DIM = 2
WIDTH = 64
DEPTH = 2
BATCH = 256

PACKAGE_DEFAULT_TOLS = {  # (tol, atol): the constructors' defaults in CGDs 0.4.5
    "bcgd": (1e-12, 1e-20),
    "acgd": (1e-12, 1e-20),
    "gacgd": (1e-5, 1e-6),
}


class Counter:
    """Counts the package's Hessian-vector products and linear-solver iterations."""

    def __init__(self):
        self.reset()

    def install(self):
        hvp = _cgd_utils.Hvp_vec

        def counted_hvp(*args, **kwargs):
            self.hvp += 1
            return hvp(*args, **kwargs)

        # `cgd.py`, `acgd.py` and `gmres_acgd.py` import Hvp_vec by name; the CG routines in
        # `cgd_utils.py` look it up in their own module: patch all four.
        for mod in (_cgd_utils, _cgd_mod, _acgd_mod, _gmres_acgd_mod):
            mod.Hvp_vec = counted_hvp

        # Iterations are counted from the Hessian-vector products made inside the solver: each
        # CG / GMRES iteration makes two (one matrix-vector product), and a warm start (`x` not
        # None) makes two more for the initial residual. (The package's own counts are off: CG
        # returns 1 when the warm start already meets the tolerance, GMRES a 0-based index.)
        def counted(solver, warm_kw):
            def wrapped(*args, **kwargs):
                before = self.hvp
                out = solver(*args, **kwargs)
                made = self.hvp - before
                if kwargs.get(warm_kw) is not None:
                    made -= 2
                self._record(made // 2)
                return out

            return wrapped

        _cgd_mod.conjugate_gradient = counted(_cgd_mod.conjugate_gradient, "x")
        _acgd_mod.general_conjugate_gradient = counted(_acgd_mod.general_conjugate_gradient, "x")
        _gmres_acgd_mod.GMRES = counted(_gmres_acgd_mod.GMRES, "x0")

    def _record(self, iters):
        self.solver_iters += int(iters)
        self.solver_calls += 1
        self.per_step.append(int(iters))

    gmres = False  # set by `main` for GACGD, to label the counts

    def reset(self):
        self.hvp = 0
        self.solver_iters = 0
        self.solver_calls = 0
        self.per_step = []


def mlp(in_size: int, out_size: int) -> nn.Sequential:
    layers, size = [], in_size
    for _ in range(DEPTH):
        layers += [nn.Linear(size, WIDTH), nn.Tanh()]
        size = WIDTH
    layers.append(nn.Linear(size, out_size))
    return nn.Sequential(*layers)


def ring_means() -> torch.Tensor:
    # endpoint=False, as in games.MixtureGAN: angles 0, 2 pi/8, ..., 14 pi/8.
    angles = torch.arange(NUM_MODES, dtype=torch.float32) * (2 * math.pi / NUM_MODES)
    return RADIUS * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)


def minibatch(means: torch.Tensor, gen: torch.Generator):
    which = torch.randint(0, NUM_MODES, (BATCH,), generator=gen)
    real = means[which] + STD * torch.randn(BATCH, DATA_DIM, generator=gen)
    z = torch.randn(BATCH, LATENT, generator=gen)
    return real, z


def discriminator_loss(d_real, d_fake):
    """MixtureGAN's l_D = E[sp(-D(x))] + E[sp(D(G(z)))] = BCE(d_real, 1) + BCE(d_fake, 0)."""
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def loadavg():
    """The 1-minute load average (None where /proc/loadavg is missing)."""
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--method", choices=("bcgd", "acgd", "gacgd"), default="acgd")
    p.add_argument("--steps", type=int, default=50, help="timed steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps before timing")
    p.add_argument("--lr", type=float, default=1e-3, help="both players' learning rate")
    p.add_argument("--lr-g", type=float, default=None, help="generator's lr (default --lr)")
    p.add_argument("--lr-d", type=float, default=None, help="discriminator's lr (default --lr)")
    p.add_argument("--tol", type=float, default=None, help="solver tol (package default)")
    p.add_argument("--atol", type=float, default=None, help="solver atol (package default)")
    p.add_argument(
        "--tol-kind",
        choices=("cgds", "norm"),
        default="cgds",
        help="cgds: pass --tol/--atol verbatim (BCGD/ACGD compare SQUARED residual norms); "
        "norm: --tol/--atol bound ||r|| (squared before passing to BCGD/ACGD)",
    )
    p.add_argument("--beta", type=float, default=0.99, help="ACGD/GACGD second-moment decay")
    p.add_argument("--eps", type=float, default=None, help="ACGD/GACGD eps (package default)")
    p.add_argument(
        "--max-iter", type=int, default=None, help="GACGD's GMRES max iterations (default m+n)"
    )
    p.add_argument(
        "--loss",
        choices=("minimax", "non-saturating"),
        default=None,
        help="minimax (zero-sum; the only one for bcgd/acgd) or non-saturating (gacgd default)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--no-count", action="store_true", help="do not wrap the package to count")
    p.add_argument(
        "--serve",
        action="store_true",
        help="after the warm-up print a 'ready' JSON line, then time one chunk of N steps per "
        "line N read from stdin, one JSON line each, until stdin closes (--steps is unused)",
    )
    args = p.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        p.error("--steps must be >= 1 and --warmup >= 0")
    if args.loss is None:
        args.loss = "non-saturating" if args.method == "gacgd" else "minimax"
    if args.method != "gacgd" and args.loss != "minimax":
        p.error(f"--method {args.method} is zero-sum (one loss): use --loss minimax or gacgd")
    if args.max_iter is not None and args.method != "gacgd":
        p.error("--max-iter is GACGD's only (BCGD/ACGD's CG runs up to dim iterations)")
    return args


def build(args):
    lr_g = args.lr if args.lr_g is None else args.lr_g
    lr_d = args.lr if args.lr_d is None else args.lr_d
    default_tol, default_atol = PACKAGE_DEFAULT_TOLS[args.method]
    tol = default_tol if args.tol is None else args.tol
    atol = default_atol if args.atol is None else args.atol
    if args.tol_kind == "norm" and args.method in ("bcgd", "acgd"):
        if args.tol is not None:
            tol = args.tol**2
        if args.atol is not None:
            atol = args.atol**2
    torch.manual_seed(args.seed)
    G = mlp(LATENT, DATA_DIM)
    D = mlp(DATA_DIM, 1)
    extra = {}
    if args.eps is not None:
        extra["eps"] = args.eps
    if args.method == "bcgd":
        # x = max_params = G (ascends the loss), y = min_params = D (descends it).
        opt = CGDs.BCGD(
            max_params=G.parameters(),
            min_params=D.parameters(),
            lr_max=lr_g,
            lr_min=lr_d,
            tol=tol,
            atol=atol,
            collect_info=False,
        )
    elif args.method == "acgd":
        opt = CGDs.ACGD(
            max_params=G.parameters(),
            min_params=D.parameters(),
            lr_max=lr_g,
            lr_min=lr_d,
            beta=args.beta,
            tol=tol,
            atol=atol,
            collect_info=False,
            **extra,
        )
    else:
        # x = G minimises loss_x, y = D minimises loss_y.
        opt = CGDs.GACGD(
            x_params=G.parameters(),
            y_params=D.parameters(),
            lr_x=lr_g,
            lr_y=lr_d,
            beta=args.beta,
            tol=tol,
            atol=atol,
            max_iter=args.max_iter,
            **extra,
        )
    settings = {"lr_g": lr_g, "lr_d": lr_d, "tol": tol, "atol": atol}
    return G, D, opt, settings


def make_step(args, G, D, opt, means, gen):
    def step():
        real, z = minibatch(means, gen)
        opt.zero_grad()
        fake = G(z)
        d_real = D(real).squeeze(-1)
        d_fake = D(fake).squeeze(-1)
        loss_d = discriminator_loss(d_real, d_fake)
        if args.method == "gacgd":
            loss_g = F.softplus(-d_fake).mean() if args.loss == "non-saturating" else -loss_d
            opt.step(loss_g, loss_d)
        else:
            opt.step(loss_d)
        return loss_d

    return step


def timed(step, n: int, counter) -> dict:
    """Wall clock, CPU time and solver iterations of `n` steps (raises what a step raises)."""
    if counter is not None:
        counter.reset()
    step_times = []
    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            loss = step()
            step_times.append(time.perf_counter() - t0)
    except Exception as exc:
        exc.steps_done = len(step_times)  # for the error record
        raise
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    out = {
        "steps": n,
        "seconds": seconds,
        "steps_per_second": n / seconds,
        # CPU time of this process (all its threads): less sensitive than wall clock to
        # other processes on the machine, but it counts OpenMP spin-waiting too.
        "cpu_seconds": cpu_seconds,
        "step_seconds": {
            "median": statistics.median(step_times),
            "min": min(step_times),
            "max": max(step_times),
        },
        "final_loss_d": float(loss.detach()),
        "loadavg_end": loadavg(),
    }
    if counter is not None:
        per = counter.per_step
        out["cg_iterations"] = {
            "solver": "GMRES" if counter.gmres else "CG",
            "total": counter.solver_iters,
            "mean": counter.solver_iters / max(len(per), 1),
            "min": min(per) if per else None,
            "max": max(per) if per else None,
        }
        out["hvp_per_step"] = counter.hvp / n
    return out


def serve(step, counter, emit) -> int:
    """`--serve`: after the warm-up, time one chunk per line read from stdin (a number of steps),
    answering each with one JSON line, until stdin closes (or reads "quit"). Idle between
    chunks (blocked on stdin; with OMP_WAIT_POLICY=PASSIVE its threads sleep), so a caller can
    interleave these chunks with its own timings."""
    done = 0
    for line in sys.stdin:
        line = line.strip()
        if line in ("", "quit"):
            break
        try:
            n = int(line)
            if n < 1:
                raise ValueError(f"a chunk needs at least one step, got {n}")
            out = timed(step, n, counter)
        except Exception as exc:  # e.g. CGDs' ValueError('hvp Nan') once training diverges
            done += getattr(exc, "steps_done", 0)
            emit({"error": f"{type(exc).__name__}: {exc}", "steps_done": done})
            return 1
        done += n
        emit(out)
    return 0


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_default_dtype(torch.float32)
    warnings.filterwarnings("ignore", message="CG iter num")  # CGDs warns past 100 iterations
    warnings.filterwarnings("ignore", message="torch.triangular_solve is deprecated")  # GMRES
    counter = None
    if not args.no_count:
        counter = Counter()
        counter.gmres = args.method == "gacgd"
        counter.install()
    G, D, opt, settings = build(args)
    means = ring_means()
    gen = torch.Generator().manual_seed(args.seed + 1)
    step = make_step(args, G, D, opt, means, gen)
    stdout = sys.stdout

    def emit(record: dict) -> None:
        print(json.dumps(record), file=stdout, flush=True)

    result = {
        "method": args.method,
        "steps": args.steps,
        "warmup": args.warmup,
        "loss": args.loss,
        "torch_version": torch.__version__,
        "cgds_version": importlib.metadata.version("cgds"),
        "threads": torch.get_num_threads(),
        "batch_size": BATCH,
        "num_params": {
            "generator": sum(p.numel() for p in G.parameters()),
            "discriminator": sum(p.numel() for p in D.parameters()),
        },
        "tol_kind": args.tol_kind,
        **settings,
        "beta": args.beta,
        "eps": args.eps,
        "seed": args.seed,
        # libgomp reads this when torch loads: the caller sets it in the environment.
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "loadavg_start": loadavg(),
    }
    if args.method == "gacgd":
        result["max_iter"] = args.max_iter
    warm = 0
    # The package prints (e.g. GMRES "Max number of iterations"): keep stdout for the JSON.
    with contextlib.redirect_stdout(sys.stderr):
        try:
            for _ in range(args.warmup):
                step()
                warm += 1
            if args.serve:
                result["ready"] = True
                del result["steps"]
                emit(result)
                return serve(step, counter, emit)
            result.update(timed(step, args.steps, counter))
        except Exception as exc:  # e.g. CGDs' ValueError('hvp Nan') once training diverges
            done = getattr(exc, "steps_done", 0)
            result.update(
                {"error": f"{type(exc).__name__}: {exc}", "warmup_done": warm, "steps_done": done}
            )
            emit(result)
            return 1
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
