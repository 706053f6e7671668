"""What the GAN recipes' ingredients do on `games.DigitsGAN`, over seeds with 95% intervals:
R1 on/off, an EMA of the generator on/off (the same runs), the fixed vs legacy first step of
optimistic Adam, and Adam vs optimistic Adam vs Extra-Adam vs ACGD vs CGD. Writes docs/gans.md's
results section and a figure of samples (docs/figures/gans-samples.png).

Every run: `games.DigitsGAN`'s default networks (MLPs 16-128-128-64 sigmoid, 64-128-128-1),
batch 64, `--steps` steps, the solver wrapped in `mx.EMA(..., 0.999, players=(True, False))` so
that one run scores both its last generator (`sol.players`) and the EMA one (`sol.answer`) on
1000 samples. Seeds are `jax.vmap`ped, `--chunk` at a time, one compiled run per chunk.

    python benchmarks/gans.py --seeds 10            # prints the tables
    python benchmarks/gans.py --seeds 10 --write    # and writes docs/gans.md
"""

import argparse
import json
import os
import time
from pathlib import Path

import _docs  # benchmarks/_docs.py, beside this script
import equinox as eqx
import jax
import numpy as np
import optax
from scipy import stats

import games
import minimax as mx
from minimax.demos.gan import digit_grid

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "gans.md"
FIGURE = ROOT / "docs" / "figures" / "gans-samples.png"
LR, B1, B2, DECAY, SAMPLES = 1e-3, 0.5, 0.99, 0.999, 1000


class MinimaxDigitsGAN(mx.AbstractZeroSumGame):
    """The minimax form of a DigitsGAN, for ACGD (zero-sum only): G minimises and D maximises
    `f = -l_D`, D's loss with its R1 term, on the mini-batch that `key` draws."""

    gan: games.DigitsGAN

    def value(self, x, y, args=None, key=None):
        return -self.gan.losses((x, y), args, key)[1]

    def equilibrium(self, near=None):
        return self.gan.equilibrium(near)


def adam():
    return optax.adam(LR, b1=B1, b2=B2)


def oadam(first_step):
    return mx.optimistic_adam(LR, 1.0, 1.0, b1=B1, b2=B2, first_step=first_step)


# name: (R1 gamma, solver, zero-sum form?)
CONFIGS = {
    "Adam, R1": (1.0, lambda: mx.Simultaneous(adam()), False),
    "Adam, no R1": (0.0, lambda: mx.Simultaneous(adam()), False),
    "optimistic Adam (fixed first step), R1": (1.0, lambda: mx.Simultaneous(oadam("fixed")), False),
    "optimistic Adam (legacy first step), R1": (
        1.0,
        lambda: mx.Simultaneous(oadam("legacy")),
        False,
    ),
    "Extra-Adam, R1": (1.0, lambda: mx.ExtraGradient(adam(), share_state=True), False),
    "ACGD (minimax form), R1": (1.0, lambda: mx.ACGD(LR, rtol=1e-4, atol=1e-6), True),
    "CGD (minimax form), R1": (1.0, lambda: mx.CGD(LR, rtol=1e-4, atol=1e-6), True),
}


def run_seeds(name: str, seeds: list[int], steps: int) -> dict:
    """Samples of the last and the EMA generator for each seed, and the seconds it took."""
    gamma, make, zero_sum = CONFIGS[name]
    gan = games.DigitsGAN(gamma)
    game = MinimaxDigitsGAN(gan) if zero_sum else gan
    solver = mx.EMA(make(), DECAY, players=(True, False))

    @eqx.filter_jit
    def run(keys):
        def one(key):
            key_init, key_train, key_eval = jax.random.split(key, 3)
            players = gan.init_players(key_init)
            sol = mx.solve(game, solver, players, steps=steps, key=key_train, save_every=None)
            return (
                gan.sample(sol.players[0], key_eval, SAMPLES),
                gan.sample(sol.answer[0], key_eval, SAMPLES),
            )

        return jax.vmap(one)(keys)

    start = time.perf_counter()
    last, ema = run(jax.vmap(jax.random.key)(np.asarray(seeds)))
    last, ema = np.asarray(last), np.asarray(ema)
    seconds = time.perf_counter() - start
    out = {"seconds": seconds, "seeds": seeds, "last": [], "ema": []}
    for which, samples in (("last", last), ("ema", ema)):
        for s in samples:
            score = gan.score(s)
            out[which].append([score.classes_covered, score.kl_uniform, score.frechet])
    out["grid"] = ema[0].tolist() if 0 in seeds else None
    return out


def interval(values, digits: int = 2) -> str:
    """Mean and a 95% Student-t interval."""
    values = np.asarray(values, float)
    mean = values.mean()
    if len(values) < 2:
        return f"{mean:.{digits}f}"
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


# Paired comparisons (same seeds): (label, (recipe, generator), (recipe, generator)).
PAIRS = [
    ("EMA - last iterate (Adam, R1)", ("Adam, R1", "ema"), ("Adam, R1", "last")),
    ("R1 - no R1 (Adam, EMA)", ("Adam, R1", "ema"), ("Adam, no R1", "ema")),
    *(
        (
            f"legacy - fixed first step (optimistic Adam, {which})",
            ("optimistic Adam (legacy first step), R1", which),
            ("optimistic Adam (fixed first step), R1", which),
        )
        for which in ("last", "ema")
    ),
    *(
        (f"{name.removesuffix(', R1')} - Adam ({which})", (name, which), ("Adam, R1", which))
        for name in (
            "optimistic Adam (fixed first step), R1",
            "Extra-Adam, R1",
            "ACGD (minimax form), R1",
            "CGD (minimax form), R1",
        )
        for which in ("last", "ema")
    ),
]


def paired(label: str, a: np.ndarray, b: np.ndarray) -> str:
    """Mean differences a - b over seeds, with 95% intervals, and whether they exclude 0."""
    cells = []
    for column, digits in ((0, 2), (1, 3), (2, 2)):
        d = a[:, column] - b[:, column]
        text = interval(d, digits)
        if len(d) > 1 and d.std() > 0:
            half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
            text += " **(≠ 0)**" if abs(d.mean()) > half else ""
        cells.append(text)
    return f"| {label} | {len(d)} | {' | '.join(cells)} |"


def row(name: str, which: str, results: list) -> str:
    r = np.asarray(results)
    full = int(np.sum((r[:, 0] == 10) & (r[:, 1] <= 0.05)))
    return (
        f"| {name} | {which} | {len(r)} | {full}/{len(r)} | {interval(r[:, 0])} | "
        f"{interval(r[:, 1], 3)} | {interval(r[:, 2])} | {np.median(r[:, 2]):.2f} |"
    )


def plot(grids: dict) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = [n for n, g in grids.items() if g is not None]
    fig = Figure(figsize=(2.6 * len(names), 3.0), layout="constrained")
    FigureCanvasAgg(fig)
    for ax, name in zip(np.atleast_1d(fig.subplots(1, len(names))), names, strict=True):
        ax.imshow(digit_grid(np.asarray(grids[name])), cmap="gray_r", vmin=0, vmax=1)
        ax.set(xticks=[], yticks=[])
        ax.set_title(name.replace(", R1", "\nR1").replace(" (", "\n("), size=8)
    fig.suptitle("64 samples of the EMA generator, seed 0", size=9)
    fig.savefig(FIGURE, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--chunk", type=int, default=5, help="seeds per vmapped run")
    parser.add_argument("--only", nargs="*", default=list(CONFIGS), help="configurations")
    parser.add_argument("--cache", default="/tmp/gans-bench.json", help="results so far")
    parser.add_argument("--write", action="store_true", help="write docs/gans.md")
    options = parser.parse_args()
    load = os.getloadavg()[0]
    cache = Path(options.cache)
    done = json.loads(cache.read_text()) if cache.exists() else {}
    for name in options.only:
        for lo in range(0, options.seeds, options.chunk):
            seeds = list(range(lo, min(lo + options.chunk, options.seeds)))
            key = f"{name}|{options.steps}|{seeds[0]}-{seeds[-1]}"
            if key not in done:
                done[key] = run_seeds(name, seeds, options.steps)
                cache.write_text(json.dumps(done))
            print(name, seeds, f"{done[key]['seconds']:.1f} s", done[key]["ema"], flush=True)
    base = games.DigitsGAN().baselines(SAMPLES)
    rows, grids, seconds, scores = [], {}, {}, {}
    for name in CONFIGS:
        parts = [v for k, v in done.items() if k.startswith(f"{name}|{options.steps}|")]
        if not parts:
            continue
        parts.sort(key=lambda p: p["seeds"][0])
        for which, label in (("last", "last iterate"), ("ema", f"EMA {DECAY:g}")):
            scores[name, which] = np.asarray([r for p in parts for r in p[which]], float)
            rows.append(row(name, label, scores[name, which]))
        grids[name] = next((p["grid"] for p in parts if p["grid"] is not None), None)
        n = sum(len(p["seeds"]) for p in parts)
        seconds[name] = sum(p["seconds"] for p in parts) / n
    for name, score in base.items():
        rows.append(
            f"| baseline: {name} | | | | {score.classes_covered} | {score.kl_uniform:.3f} | "
            f"{score.frechet:.2f} | |"
        )
    table = "\n".join(
        [
            "| recipe | generator | seeds | 10 classes, KL ≤ 0.05 | classes covered | "
            "KL from uniform | Fréchet distance | median Fréchet |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
            *rows,
        ]
    )
    differences = "\n".join(
        [
            "| difference (same seeds) | seeds | classes covered | KL from uniform | "
            "Fréchet distance |",
            "|---|---:|---:|---:|---:|",
            *(
                paired(label, scores[a], scores[b])
                for label, a, b in PAIRS
                if a in scores and b in scores and len(scores[a]) == len(scores[b])
            ),
        ]
    )
    cost = "\n".join(f"- {name}: {s:.1f} s per seed (vmapped)" for name, s in seconds.items())
    print(table, differences, cost, sep="\n\n")
    if options.write:
        plot(grids)
        body = "\n".join(
            [
                f"{options.steps} steps, batch 64, learning rate {LR:g}, b1 = {B1:g}, "
                f"b2 = {B2:g} for every solver; intervals are 95% Student-t intervals of the "
                "mean over seeds; each generator scored on 1000 samples.",
                "",
                table,
                "",
                "Paired differences over the same seeds (mean and 95% interval of the "
                "per-seed difference; **(≠ 0)** when the interval excludes 0; a negative "
                "Fréchet difference is an improvement):",
                "",
                differences,
                "",
                "Wall-clock seconds per seed (each chunk of seeds one vmapped, compiled run, "
                "compilation included, on a machine shared with other jobs: the load varied "
                "between recipes, so these are no comparison of cost; a step of Extra-Adam "
                "takes two gradient evaluations, one of Adam or optimistic Adam one):",
                "",
                cost,
                "",
                "![64 samples of each recipe's EMA generator](figures/gans-samples.png)",
            ]
        )
        _docs.DOCS = PAGE
        _docs.record("gans.py", "Results", body, load)


if __name__ == "__main__":
    main()
