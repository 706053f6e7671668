"""`python -m minimax gan`: train a small GAN, on 8x8 handwritten digits (default) or on a 2-D
mixture of Gaussians, print its score and save a figure of its samples during training.

The digits recipe (`--data digits`, the default: a real data set, scored against baselines
that say what a number means, in about 15 s): MLPs 16-128-128-64 (sigmoid output) and
64-128-128-1, batch 64, `Adam(1e-3, b1=0.5, b2=0.99)` for both players, the R1 penalty with
gamma = 1 and an EMA (decay 0.999) of the generator, 4000 steps. Over seeds 0-9 it covered
10 of 10 classes with a KL from uniform <= 0.05 in every seed, with a median Fréchet distance
below the 20-component Gaussian mixture's (see docs/gans.md).

The ring recipe (`--data ring`): tanh MLPs (2 hidden layers of 64 units, latent size 16), the
non-saturating loss, mini-batches of 256, `minimax.optimistic_adam` with alpha = beta = 1,
b1 = 0.5, b2 = 0.9 and a learning rate of 1e-3 for both players, cosine-decayed to a tenth of
that by the last of 10 000 steps. On the 8-mode ring it covered all 8 modes in 10 of 10 seeds
(seeds 0-9), about 10 s a run on two CPU cores, compilation included.
"""

import argparse
import math
import time
from typing import Any, NamedTuple

import jax
import numpy as np
import optax

import games
import minimax as mx

from . import _cli

PROG = "python -m minimax gan"
DEFAULT_OUT = "minimax-gan.png"
NUM_SAMPLES = 1000  # what --samples writes and the score is taken on
SOLVERS = ("adam", "oadam", "extra-adam", "cgd", "acgd")

# Each data set's recipe; an option not given takes its value from here.
RECIPES = {
    "digits": dict(
        batch_size=64, width=128, depth=2, latent_size=16, steps=4000, lr=1e-3, decay_to=1.0,
        solver="adam", b1=0.5, b2=0.99, alpha=1.0, beta=1.0, first_step="fixed", r1=1.0,
        ema=0.999,
    ),
    "ring": dict(
        batch_size=256, width=64, depth=2, latent_size=16, steps=10_000, lr=1e-3, decay_to=0.1,
        solver="oadam", b1=0.5, b2=0.9, alpha=1.0, beta=1.0, first_step="fixed", r1=0.0,
        ema=0.0,
    ),
}  # fmt: skip
RECIPES["grid"] = RECIPES["ring"]


class GanRecipe(NamedTuple):
    """The training recipe; each field is the command-line option of the same name."""

    data: str = "digits"
    batch_size: int = 64
    width: int = 128
    depth: int = 2
    latent_size: int = 16
    steps: int = 4000
    seed: int = 0
    solver: str = "adam"
    lr: float = 1e-3
    lr_d: float | None = None
    decay_to: float = 1.0
    alpha: float = 1.0
    beta: float = 1.0
    b1: float = 0.5
    b2: float = 0.99
    first_step: str = "fixed"
    r1: float = 1.0
    ema: float = 0.999
    snapshots: int = 5
    checkpoint: str | None = None
    no_progress: bool = False


def recipe(data: str = "digits", **options: Any) -> GanRecipe:
    """The recipe for `data` ("digits", "ring" or "grid"), with `options` replacing its
    values, as `python -m minimax gan --data DATA` with those options would run it."""
    return GanRecipe(data=data, **(RECIPES[data] | options))


def ema_decay(text: str) -> float:
    """`--ema`: a decay in [0, 1), 0 or 'off' for none."""
    return 0.0 if text.strip().lower() == "off" else _cli.decay_rate(text)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Train a small GAN (MLP generator and discriminator, non-saturating loss) on "
            "scikit-learn's 8x8 digits or a 2-D mixture of Gaussians, print its score, and "
            "save a figure of its samples during training."
        ),
        epilog=(
            "Options not given take the data's recipe: "
            + "; ".join(
                f"{name}: " + ", ".join(f"{k}={v}" for k, v in RECIPES[name].items())
                for name in ("digits", "ring")
            )
            + ". Digits are scored by a classifier trained on held-out digits (classes covered "
            "by at least 2% of 1000 samples, KL of their frequencies from uniform, Fréchet "
            "distance of its logits), beside the same score of the training digits and of "
            "Gaussian models fitted to them. A mode of a mixture counts as covered when at least "
            "a fifth of its fair share of 2500 samples lands within 3 standard deviations of it."
        ),
    )
    data = parser.add_argument_group("data and networks")
    data.add_argument(
        "--data",
        choices=("digits", "ring", "grid"),
        default="digits",
        help="scikit-learn's 8x8 handwritten digits (needs scikit-learn), 8 Gaussians on a "
        "ring of radius 2 (std 0.02), or a 5x5 grid of them (std 0.05; much harder: the ring "
        "recipe covered about half of its 25 modes with --steps 20000) (default: digits)",
    )
    data.add_argument("--batch-size", type=_cli.positive_int, help="samples per step")
    data.add_argument("--width", type=_cli.positive_int, help="hidden units per layer")
    data.add_argument("--depth", type=_cli.positive_int, help="hidden layers")
    data.add_argument("--latent-size", type=_cli.positive_int, help="generator input size")
    train = parser.add_argument_group("training")
    train.add_argument("--steps", type=_cli.positive_int, help="training steps")
    train.add_argument(
        "--seed", type=_cli.seed, default=0, help="random seed (weights and batches; default 0)"
    )
    train.add_argument(
        "--solver",
        choices=SOLVERS,
        help="both players' update: simultaneous Adam, optimistic Adam, Extra-Adam "
        "(ExtraGradient(adam, share_state=True)), or CGD / ACGD on the GAN's minimax form "
        "(G minimises, D maximises D's loss)",
    )
    train.add_argument("--lr", type=_cli.positive_float, help="learning rate of the generator")
    train.add_argument(
        "--lr-d", type=_cli.positive_float, help="learning rate of the discriminator (--lr)"
    )
    train.add_argument(
        "--decay-to",
        type=_cli.fraction,
        help="cosine-decay the learning rates to this fraction of their start by the last step "
        "(1 keeps them constant)",
    )
    train.add_argument(
        "--alpha",
        type=_cli.positive_float,
        help="oadam: weight of the current direction: u_t = (alpha + beta) r_t - beta r_{t-1}",
    )
    train.add_argument(
        "--beta",
        type=_cli.non_negative_float,
        help="oadam: weight of the correction r_t - r_{t-1} (0: plain Adam)",
    )
    train.add_argument("--b1", type=_cli.decay_rate, help="Adam's first-moment decay, in [0, 1)")
    train.add_argument(
        "--b2", type=_cli.decay_rate, help="Adam's (and ACGD's) second-moment decay, in [0, 1)"
    )
    train.add_argument(
        "--first-step",
        choices=("fixed", "legacy"),
        help="oadam's first step: 'fixed' takes r_{-1} = r_0 (a first step of lr * alpha * "
        "r_0); 'legacy' takes r_{-1} = 0, a first step (alpha + beta) / alpha times larger",
    )
    train.add_argument(
        "--r1",
        type=_cli.non_negative_float,
        metavar="GAMMA",
        help="digits: weight of the R1 penalty gamma/2 E|grad_x D(x)|^2 on real digits (0: off)",
    )
    train.add_argument(
        "--ema",
        type=ema_decay,
        metavar="DECAY",
        help="keep an exponential moving average of the generator with this decay, in [0, 1), "
        "and score, save and show it (0 or 'off': the last iterate)",
    )
    out = parser.add_argument_group("output")
    _cli.add_out(out, DEFAULT_OUT, "samples during training")
    out.add_argument(
        "--snapshots",
        type=_cli.positive_int,
        default=5,
        help="how many points of training to show in the figure (start and end included; "
        "default 5)",
    )
    out.add_argument(
        "--samples",
        metavar="PATH",
        help=f"write {NUM_SAMPLES} samples of the final generator (the EMA one with --ema) to "
        "this .npy file: shape (1000, 64) on the digits' 0-16 scale, (1000, 2) for a mixture",
    )
    out.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="save the run to this file at every snapshot; if it exists, resume from it (run "
        "a killed command again, unchanged: it ends with the same players, bit for bit)",
    )
    out.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> GanRecipe:
    """The recipe `args` ask for, with the data's defaults filled in; an option that does not
    apply (to the data or the solver), or a missing dependency, is a usage error."""
    given = {k for k, v in vars(args).items() if v is not None}
    for name, value in RECIPES[args.data].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.data == "digits":
        try:
            import sklearn  # noqa: F401
        except ImportError:
            parser.error(
                "--data digits needs scikit-learn (its digits are bundled with it): "
                "pip install scikit-learn, or --data ring"
            )
    elif args.r1 > 0:
        parser.error(f"--r1: the R1 penalty is for --data digits, not --data {args.data}")
    oadam_only = ("alpha", "beta", "first_step")
    not_for = {
        "adam": oadam_only,
        "extra-adam": oadam_only,
        "oadam": (),
        "acgd": (*oadam_only, "lr_d", "b1"),
        "cgd": (*oadam_only, "lr_d", "b1", "b2"),
    }[args.solver]
    for name in not_for:
        if name in given:
            parser.error(f"--{name.replace('_', '-')} does not apply to --solver {args.solver}")
    for option, suffix in (("samples", ".npy"), ("checkpoint", None)):
        path = getattr(args, option)
        if path is not None:
            _cli.file_path(parser, f"--{option}", path, suffix)
    return recipe(**{name: getattr(args, name) for name in GanRecipe._fields})


class _MinimaxForm(mx.AbstractZeroSumGame):
    """A GAN as a zero-sum game, for CGD and ACGD: the generator `x` minimises and the
    discriminator `y` maximises `f = -l_D`, D's loss, on the mini-batch that `key` draws."""

    gan: Any

    def value(self, x, y, args=None, key=None):
        return -self.gan.losses((x, y), args, key)[1]

    def equilibrium(self, near=None):
        return self.gan.equilibrium(near)


def _solver(args: GanRecipe) -> mx.AbstractSolver:
    def lr(value):
        if args.decay_to < 1:
            return optax.cosine_decay_schedule(value, args.steps, alpha=args.decay_to)
        return value

    lr_d = args.lr if args.lr_d is None else args.lr_d
    if args.solver in ("cgd", "acgd"):
        solver = (
            mx.CGD(lr(args.lr), rtol=1e-4, atol=1e-6)
            if args.solver == "cgd"
            else mx.ACGD(lr(args.lr), beta=args.b2, rtol=1e-4, atol=1e-6)
        )
    elif args.solver == "oadam":
        solver = mx.Simultaneous(
            *(
                mx.optimistic_adam(
                    lr(v), args.alpha, args.beta, b1=args.b1, b2=args.b2,
                    first_step=args.first_step,
                )
                for v in (args.lr, lr_d)
            )
        )  # fmt: skip
    else:
        adam = [optax.adam(lr(v), b1=args.b1, b2=args.b2) for v in (args.lr, lr_d)]
        solver = (
            mx.Simultaneous(*adam)
            if args.solver == "adam"
            else mx.ExtraGradient(*adam, share_state=True)
        )
    return mx.EMA(solver, args.ema, players=(True, False)) if args.ema > 0 else solver


class GanRun(NamedTuple):
    """What [`train`][] returns: the game, the final players and generator's samples, and the
    samples (and, for a mixture, the discriminator gap) at each snapshot."""

    game: Any
    players: Any
    samples: np.ndarray  # NUM_SAMPLES of the final (EMA) generator, in the game's units
    steps: np.ndarray
    snapshots: Any  # {"samples": (snapshots, n, d), "gap": (snapshots,) for a mixture}
    seconds: float


def train(args: GanRecipe) -> GanRun:
    """Train with `args`; `main` prints and plots the result. The run is one `mx.solve` that
    records the answer's samples at each snapshot (so that it can be checkpointed)."""
    digits = args.data == "digits"
    if digits:
        game = games.DigitsGAN(args.r1, batch_size=args.batch_size, latent_size=args.latent_size)
    else:
        game = games.MixtureGAN(args.data, batch_size=args.batch_size, latent_size=args.latent_size)
    solver = _solver(args)
    key_init, key_train, key_eval = jax.random.split(jax.random.key(args.seed), 3)
    players = game.init_players(key_init, width=args.width, depth=args.depth)
    every = max(1, math.ceil(args.steps / max(args.snapshots - 1, 1)))

    def save(answer, _):
        samples = game.sample(answer[0], key_eval, NUM_SAMPLES if digits else 2500)
        if digits:
            return {"samples": samples}
        return {"samples": samples, "gap": game.discriminator_gap(answer, key_eval)}

    start = time.perf_counter()
    sol = mx.solve(
        _MinimaxForm(game) if args.solver in ("cgd", "acgd") else game,
        solver,
        players,
        steps=args.steps,
        key=key_train,
        save_every=every,
        save=save,
        progress=False if args.no_progress else mx.ProgressMeter(desc="training"),
        checkpoint=args.checkpoint,
        checkpoint_every=every if args.checkpoint else None,
    )
    snapshots = jax.tree.map(np.asarray, sol.trajectory)
    seconds = time.perf_counter() - start
    steps = np.asarray(sol.ts)
    if args.snapshots == 1:
        steps, snapshots = steps[-1:], jax.tree.map(lambda a: a[-1:], snapshots)
    final = snapshots["samples"][-1][:NUM_SAMPLES]
    return GanRun(game, sol.players, final, steps, snapshots, seconds)


def digit_grid(samples: np.ndarray, rows: int = 8) -> np.ndarray:
    """The first `rows ** 2` digits (rows of 64 pixels in [0, 1]) as one image, `rows` by
    `rows`, one blank pixel between them."""
    images = np.pad(samples[: rows**2].reshape(rows, rows, 8, 8), ((0, 0), (0, 0), (0, 1), (0, 1)))
    return images.transpose(0, 2, 1, 3).reshape(9 * rows, 9 * rows)[:-1, :-1]


def _title_digits(game, samples) -> str:
    s = game.score(samples)
    return f"{s.classes_covered}/10 classes, FD {s.frechet:.2f}"


def plot(run: GanRun, path: str, title: str) -> None:
    """Write the figure: the samples at each snapshot (8x8 grids of digits, or points over the
    mixture's modes, with the discriminator gap along the run)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    digits = isinstance(run.game, games.DigitsGAN)
    n = len(run.steps)
    fig = Figure(figsize=(3 * (n + (not digits)), 3.3), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(1, n + (not digits)))
    for ax, step, samples in zip(axes, run.steps, run.snapshots["samples"], strict=False):
        if digits:
            ax.imshow(digit_grid(samples), cmap="gray_r", vmin=0, vmax=1)
            ax.set(xticks=[], yticks=[])
            ax.set_title(f"step {step}\n{_title_digits(run.game, samples)}", size=9)
            continue
        means = np.asarray(run.game.means)
        lo, hi = means.min(axis=0) - 1.0, means.max(axis=0) + 1.0
        ax.scatter(*samples[:1000].T, s=2, alpha=0.4, color="tab:blue")
        ax.scatter(*means.T, s=30, marker="x", color="tab:red")
        ax.set(xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]), aspect="equal", xticks=[], yticks=[])
        m = run.game.metrics(samples)
        k, hq = int(m.modes_covered), float(m.high_quality)
        ax.set_title(f"step {step}\n{k}/{len(means)} modes, {hq:.0%} high quality", size=9)
    if not digits:
        axes[-1].plot(run.steps, run.snapshots["gap"], "o-", color="tab:purple")
        axes[-1].axhline(0, color="grey", lw=0.5)
        axes[-1].set(xlabel="step")
        axes[-1].set_title("discriminator gap\nE σ(D(real)) − E σ(D(fake))", size=9)
    fig.suptitle(title, size=10)
    fig.savefig(path, dpi=120)


def _describe(args: GanRecipe) -> str:
    lr = f"lr={args.lr:g}" + ("" if args.lr_d is None else f"/{args.lr_d:g}")
    if args.decay_to < 1:
        lr += f" cosine-decayed to x{args.decay_to:g}"
    solver = {
        "adam": f"Simultaneous(adam({lr}, b1={args.b1:g}, b2={args.b2:g}))",
        "oadam": f"Simultaneous(optimistic_adam({lr}, alpha={args.alpha:g}, beta={args.beta:g}, "
        f"b1={args.b1:g}, b2={args.b2:g}, first_step={args.first_step!r}))",
        "extra-adam": f"ExtraGradient(adam({lr}, b1={args.b1:g}, b2={args.b2:g}), "
        "share_state=True)",
        "cgd": f"CGD({lr}) on the minimax form",
        "acgd": f"ACGD({lr}, beta={args.b2:g}) on the minimax form",
    }[args.solver]
    extras = [f"R1 gamma={args.r1:g}"] if args.data == "digits" else []
    extras.append(f"EMA {args.ema:g} of the generator" if args.ema > 0 else "no EMA")
    return f"{args.data}, {args.steps} steps of {solver}, {', '.join(extras)}, seed {args.seed}"


def _report_digits(run: GanRun, ema: bool) -> None:
    game = run.game
    rows = {("EMA generator" if ema else "generator") + " (this run)": game.score(run.samples)}
    rows |= {f"baseline: {name}": score for name, score in game.baselines(NUM_SAMPLES).items()}
    print(f"score on {NUM_SAMPLES} samples (Fréchet distance: lower is better)")
    print(f"{'':34} {'classes':>8} {'KL from uniform':>16} {'Fréchet':>8}")
    for name, s in rows.items():
        print(f"{name:34} {s.classes_covered:>5}/10 {s.kl_uniform:>16.3f} {s.frechet:>8.2f}")


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m minimax gan`; `argv` defaults to the command line."""
    parser = make_parser()
    args = parser.parse_args(argv)
    out = _cli.figure_path(parser, args, DEFAULT_OUT)  # checked before training
    recipe = check_args(parser, args)
    print(f"{PROG}: {_describe(recipe)}")
    run = train(recipe)
    if recipe.data == "digits":
        _report_digits(run, recipe.ema > 0)
    else:
        m = run.game.metrics(run.snapshots["samples"][-1])
        print(
            f"modes covered: {int(m.modes_covered)} of {run.game.num_modes}\n"
            f"high-quality samples: {float(m.high_quality):.1%} (within 3 std of a mode)\n"
            f"samples per mode: {np.asarray(m.counts).tolist()}\n"
            f"discriminator gap: {float(run.snapshots['gap'][-1]):.3f}"
        )
    print(f"time: {run.seconds:.1f} s (compilation included)")
    if recipe.checkpoint:
        print(f"checkpoint: {recipe.checkpoint}")
    if args.samples:
        scale = 16.0 if recipe.data == "digits" else 1.0  # the digits' own 0-16 scale
        np.save(args.samples, (run.samples * scale).astype(np.float32))
        print(f"samples: {args.samples} ({NUM_SAMPLES} of the final generator)")
    if out:
        plot(run, out, f"{PROG}: {_describe(recipe)}")
        print(f"figure: {out}")


if __name__ == "__main__":
    main()
