"""`python -m minimax gan`: train a small GAN on a 2-D mixture of Gaussians with optimistic Adam.

The recipe: tanh MLPs (2 hidden layers of 64 units, latent size 16), the non-saturating loss,
mini-batches of 256, `minimax.optimistic_adam` with alpha = beta = 1, b1 = 0.5, b2 = 0.9 and a
learning rate of 1e-3 for both players, cosine-decayed to a tenth of that by the last of 10 000
steps. On the 8-mode ring it covered all 8 modes in 10 of 10 seeds (seeds 0-9), about 10 s a run
on two CPU cores, compilation included.
"""

import argparse
import time
from typing import Any, NamedTuple

import equinox as eqx
import jax
import numpy as np
import optax

import games
import minimax as mx

from .._progress import ProgressBar
from . import _cli

PROG = "python -m minimax gan"
DEFAULT_OUT = "minimax-gan.png"
_CHUNKS = 40  # progress-bar updates per run


class GanRecipe(NamedTuple):
    """The training recipe; each field is the command-line option of the same name."""

    kind: str = "ring"
    batch_size: int = 256
    width: int = 64
    depth: int = 2
    latent_size: int = 16
    steps: int = 10_000
    seed: int = 0
    lr: float = 1e-3
    lr_d: float | None = None
    decay_to: float = 0.1
    alpha: float = 1.0
    beta: float = 1.0
    b1: float = 0.5
    b2: float = 0.9
    first_step: str = "fixed"
    snapshots: int = 5
    no_progress: bool = False


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Train a small GAN (MLP generator and discriminator, non-saturating loss) on a 2-D "
            "mixture of Gaussians with simultaneous optimistic Adam, print how many modes it "
            "covers, and save a figure of its samples during training."
        ),
        epilog=(
            "A mode counts as covered when at least a fifth of its fair share of 2500 samples "
            "lands within 3 standard deviations of it; high quality is the fraction of samples "
            "within 3 standard deviations of their nearest mode; the discriminator gap is "
            "E[sigmoid(D(real))] - E[sigmoid(D(fake))] (near 0 when D cannot tell them apart)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    data = parser.add_argument_group("data and networks")
    data.add_argument(
        "--kind",
        choices=("ring", "grid"),
        help="the mixture: 8 Gaussians on a ring of radius 2 (std 0.02), or a 5x5 grid (std "
        "0.05); the grid is much harder: in our runs this recipe covered about half of its 25 "
        "modes with --steps 20000",
    )
    data.add_argument("--batch-size", type=_cli.positive_int, help="samples per step")
    data.add_argument("--width", type=_cli.positive_int, help="hidden units per layer")
    data.add_argument("--depth", type=_cli.positive_int, help="hidden layers")
    data.add_argument("--latent-size", type=_cli.positive_int, help="generator input size")
    train = parser.add_argument_group("training")
    train.add_argument("--steps", type=_cli.positive_int, help="training steps")
    train.add_argument("--seed", type=_cli.seed, help="random seed (weights and batches)")
    train.add_argument("--lr", type=_cli.positive_float, help="learning rate of the generator")
    train.add_argument(
        "--lr-d",
        type=_cli.positive_float,
        help="learning rate of the discriminator; None: the same as --lr (default: %(default)s)",
    )
    train.add_argument(
        "--decay-to",
        type=_cli.fraction,
        help="cosine-decay both learning rates to this fraction of their start by the last step "
        "(1 keeps them constant)",
    )
    train.add_argument(
        "--alpha",
        type=_cli.positive_float,
        help="optimistic weight of the current direction: u_t = (alpha + beta) r_t - beta r_{t-1}",
    )
    train.add_argument(
        "--beta",
        type=_cli.non_negative_float,
        help="optimistic weight of the correction r_t - r_{t-1} (0: plain Adam)",
    )
    train.add_argument("--b1", type=_cli.decay_rate, help="Adam's first-moment decay, in [0, 1)")
    train.add_argument("--b2", type=_cli.decay_rate, help="Adam's second-moment decay, in [0, 1)")
    train.add_argument(
        "--first-step",
        choices=("fixed", "legacy"),
        help="optimistic first step: 'fixed' takes r_{-1} = r_0 (a first step of lr * alpha * "
        "r_0); 'legacy' takes r_{-1} = 0, a first step (alpha + beta) / alpha times larger",
    )
    out = parser.add_argument_group("output")
    _cli.add_out(out, DEFAULT_OUT, "samples during training")
    out.add_argument(
        "--snapshots",
        type=_cli.positive_int,
        help="how many points of training to show in the figure (start and end included)",
    )
    out.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(**GanRecipe()._asdict())
    return parser


class Snapshot(NamedTuple):
    step: int
    samples: np.ndarray
    metrics: Any


class GanRun(NamedTuple):
    """What [`train`][] returns: the final players and metrics, and the record of the run."""

    game: Any
    players: Any
    metrics: Any
    gap: float
    snapshots: list[Snapshot]
    gaps: tuple[np.ndarray, np.ndarray]  # (steps, discriminator gap) at every chunk
    seconds: float


def _solver(args: GanRecipe) -> mx.Simultaneous:
    def opt(lr):
        if args.decay_to < 1:
            lr = optax.cosine_decay_schedule(lr, args.steps, alpha=args.decay_to)
        return mx.optimistic_adam(
            lr, args.alpha, args.beta, b1=args.b1, b2=args.b2, first_step=args.first_step
        )

    return mx.Simultaneous(opt(args.lr), opt(args.lr if args.lr_d is None else args.lr_d))


def train(args: GanRecipe) -> GanRun:
    """Train with `args`; `main` prints and plots the result."""
    game = games.MixtureGAN(args.kind, batch_size=args.batch_size, latent_size=args.latent_size)
    solver = _solver(args)
    key_init, key_train, key_eval = jax.random.split(jax.random.key(args.seed), 3)
    players = game.init_players(key_init, width=args.width, depth=args.depth)
    state = None  # then each chunk continues from the previous one's `sol.state`

    @eqx.filter_jit
    def evaluate(players, key):
        samples = game.sample(players[0], key, 2500)
        gap = game.discriminator_gap(players, jax.random.fold_in(key, 1))
        return samples, game.metrics(samples), gap

    # Train in chunks of one compiled `solve` each, resumed from the previous chunk's state, so
    # that the progress bar advances; the figure shows the players at chunk boundaries.
    chunk = max(1, args.steps // _CHUNKS)
    bounds = [0, *range(chunk, args.steps, chunk), args.steps]
    picks = np.linspace(0, len(bounds) - 1, args.snapshots).round().astype(int)
    shown = {bounds[i] for i in (picks if args.snapshots > 1 else [-1])}

    snapshots, gap_steps, gaps = [], [], []

    def record(step, players):
        samples, metrics, gap = evaluate(players, key_eval)
        gap_steps.append(step)
        gaps.append(float(gap))
        if step in shown:
            snapshots.append(Snapshot(step, np.asarray(samples), metrics))
        return metrics, gap

    start = time.perf_counter()
    record(0, players)
    done = 0
    with ProgressBar(args.steps, desc="training", disable=args.no_progress) as bar:
        for bound in bounds[1:]:
            sol = mx.solve(
                game,
                solver,
                players,
                steps=bound - done,
                key=key_train,
                state=state,
                save_every=None,
            )
            players, state = sol.players, sol.state
            metrics, gap = record(bound, players)
            bar.update_to(bound, modes=int(metrics.modes_covered), gap=round(float(gap), 2))
            done = bound
    seconds = time.perf_counter() - start
    return GanRun(
        game,
        players,
        metrics,
        float(gap),
        snapshots,
        (np.asarray(gap_steps), np.asarray(gaps)),
        seconds,
    )


def plot(run: GanRun, path: str, title: str) -> None:
    """Write a PNG: the samples at each snapshot over the data's modes, and the discriminator
    gap along the run."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    means = np.asarray(run.game.means)
    lo, hi = means.min(axis=0) - 1.0, means.max(axis=0) + 1.0
    n = len(run.snapshots)
    fig = Figure(figsize=(3 * (n + 1), 3.3), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, n + 1)
    for ax, snap in zip(axes[:-1], run.snapshots, strict=True):
        ax.scatter(*snap.samples[:1000].T, s=2, alpha=0.4, color="tab:blue")
        ax.scatter(*means.T, s=30, marker="x", color="tab:red")
        ax.set(xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]), aspect="equal", xticks=[], yticks=[])
        k, hq = int(snap.metrics.modes_covered), float(snap.metrics.high_quality)
        ax.set_title(f"step {snap.step}\n{k}/{len(means)} modes, {hq:.0%} high quality", size=9)
    steps, gaps = run.gaps
    axes[-1].plot(steps, gaps, color="tab:purple")
    axes[-1].axhline(0, color="grey", lw=0.5)
    axes[-1].set(xlabel="step")
    axes[-1].set_title("discriminator gap\nE σ(D(real)) − E σ(D(fake))", size=9)
    fig.suptitle(title, size=10)
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m minimax gan`; `argv` defaults to the command line."""
    parser = make_parser()
    args = parser.parse_args(argv)
    out = _cli.figure_path(parser, args, DEFAULT_OUT)  # checked before training
    lr_d = args.lr if args.lr_d is None else args.lr_d
    print(
        f"{PROG}: {args.kind} mixture, {args.steps} steps of Simultaneous(optimistic_adam("
        f"lr={args.lr:g}/{lr_d:g}, alpha={args.alpha:g}, beta={args.beta:g}, b1={args.b1:g}, "
        f"b2={args.b2:g}, first_step={args.first_step!r})), seed {args.seed}"
    )
    run = train(GanRecipe(**{name: getattr(args, name) for name in GanRecipe._fields}))
    m = run.metrics
    print(
        f"modes covered: {int(m.modes_covered)} of {run.game.num_modes}\n"
        f"high-quality samples: {float(m.high_quality):.1%} (within 3 std of a mode)\n"
        f"samples per mode: {np.asarray(m.counts).tolist()}\n"
        f"discriminator gap: {run.gap:.3f}\n"
        f"time: {run.seconds:.1f} s (compilation included)"
    )
    if out:
        title = (
            f"MixtureGAN ({args.kind}), optimistic Adam, first_step={args.first_step!r}, "
            f"seed {args.seed}"
        )
        plot(run, out, title)
        print(f"figure: {out}")


if __name__ == "__main__":
    main()
