"""A GAN on scikit-learn's 8x8 digits (`games.DigitsGAN`): what R1 and an EMA of the generator
do to the score, against the baselines; and the cost of an ACGD step against an Adam step.

1. For each seed and each of R1 off (`gamma=0`) and on (`gamma=1`): `games.DigitsGAN`'s default
   networks (MLPs 16-128-128-64 with a sigmoid output, 64-128-128-1), batch 64, both players
   trained by `Simultaneous(optax.adam(1e-3, b1=0.5, b2=0.99))` for `--steps` steps, wrapped in
   `minimax.EMA(..., 0.999, players=(True, False))` so that one run gives both the last
   iterate (`sol.players`) and the exponential moving average of the generator (`sol.answer`).
   Each generator is scored on 1000 samples.
2. Milliseconds per step of `mx.solve` with that Adam solver, with `mx.CGD` and with `mx.ACGD`
   (zero-sum only: on the minimax form of the same GAN, `f = -l_D`, the discriminator's loss
   with its R1 term), timed interleaved, best of `--rounds` calls of 256 steps each.

    python benchmarks/digits_gan.py            # prints the tables
    python benchmarks/digits_gan.py --write    # also records them in docs/benchmarks.md
"""

import argparse
import os
import time

import _docs  # benchmarks/_docs.py, beside this script
import jax
import numpy as np
import optax

import games
import minimax as mx

LR, B1, B2, DECAY = 1e-3, 0.5, 0.99, 0.999
SAMPLES = 1000
TIMED_STEPS = 256


class MinimaxDigitsGAN(mx.AbstractZeroSumGame):
    """The minimax form of a DigitsGAN: the generator `x` minimises and the discriminator `y`
    maximises `f = -l_D` (its loss with the R1 term) on the mini-batch that `key` draws."""

    gan: games.DigitsGAN

    def value(self, x, y, args=None, key=None):
        return -self.gan.losses((x, y), args, key)[1]

    def equilibrium(self, near=None):
        return self.gan.equilibrium(near)


def solver() -> mx.AbstractSolver:
    return mx.EMA(mx.Simultaneous(optax.adam(LR, b1=B1, b2=B2)), DECAY, players=(True, False))


def train(gamma: float, seed: int, steps: int) -> dict:
    game = games.DigitsGAN(gamma)
    key_init, key_train, key_eval = jax.random.split(jax.random.key(seed), 3)
    players = game.init_players(key_init)
    start = time.perf_counter()
    sol = mx.solve(game, solver(), players, steps=steps, key=key_train, save_every=None)
    jax.block_until_ready(sol.players)
    seconds = time.perf_counter() - start
    return {
        "last": game.score(game.sample(sol.players[0], key_eval, SAMPLES)),
        "ema": game.score(game.sample(sol.answer[0], key_eval, SAMPLES)),
        "seconds": seconds,
    }


def timing(rounds: int) -> dict:
    gan = games.DigitsGAN()
    players = gan.init_players(jax.random.key(0))
    key = jax.random.key(1)
    contenders = {
        "Adam (`Simultaneous(adam)`)": (gan, mx.Simultaneous(optax.adam(LR, b1=B1, b2=B2))),
        "CGD (minimax form)": (MinimaxDigitsGAN(gan), mx.CGD(LR, rtol=1e-4, atol=1e-6)),
        "ACGD (minimax form)": (MinimaxDigitsGAN(gan), mx.ACGD(LR, rtol=1e-4, atol=1e-6)),
    }
    runs = {}
    for name, (game, s) in contenders.items():
        state = mx.solve(game, s, players, steps=TIMED_STEPS, key=key, save_every=None).state

        def run(game=game, s=s, state=state):
            sol = mx.solve(
                game, s, players, steps=TIMED_STEPS, key=key, save_every=None, state=state
            )
            jax.block_until_ready(sol.players)

        run()
        runs[name] = run
    best = dict.fromkeys(runs, np.inf)
    names = list(runs)
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            start = time.perf_counter()
            runs[name]()
            best[name] = min(best[name], (time.perf_counter() - start) / TIMED_STEPS)
    return best


def fmt(score) -> str:
    return f"{score.classes_covered} | {score.kl_uniform:.3f} | {score.frechet:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=7, help="timed calls per solver")
    parser.add_argument("--write", action="store_true", help="record it in docs/")
    options = parser.parse_args()
    load = os.getloadavg()[0]
    game = games.DigitsGAN()
    rows = []
    for name, score in game.baselines(SAMPLES).items():
        rows.append(f"| baseline: {name} | | {fmt(score)} |")
        print(rows[-1], flush=True)
    runs = {}
    for gamma in (0.0, 1.0):
        label = "no penalty" if gamma == 0 else f"R1, gamma = {gamma:g}"
        for seed in range(options.seeds):
            out = runs[gamma, seed] = train(gamma, seed, options.steps)
            for which in ("last", "ema"):
                kind = "last iterate" if which == "last" else f"EMA {DECAY:g}"
                rows.append(f"| {label}, {kind} | {seed} | {fmt(out[which])} |")
                print(rows[-1], f"({out['seconds']:.1f} s)", flush=True)

    def summary(gamma: float) -> str:
        outs = [runs[gamma, seed] for seed in range(options.seeds)]
        classes = ", ".join(str(out["last"].classes_covered) for out in outs)
        last = np.mean([out["last"].frechet for out in outs])
        ema = np.mean([out["ema"].frechet for out in outs])
        return (
            f"classes covered by the last iterate {classes} of 10; mean Fréchet distance "
            f"{last:.2f} (last iterate), {ema:.2f} (EMA)"
        )

    costs = timing(options.rounds)
    adam = costs["Adam (`Simultaneous(adam)`)"]
    cost_rows = [
        f"| {name} | {1e3 * seconds:.2f} | {seconds / adam:.1f} |"
        for name, seconds in costs.items()
    ]
    body = "\n".join(
        [
            "`games.DigitsGAN` (scikit-learn's 8x8 digits, pixels in [0, 1]; the GAN trains on "
            "899 of them): MLP generator 16-128-128-64 (ReLU, sigmoid output), MLP "
            "discriminator 64-128-128-1 (leaky ReLU), non-saturating loss, batch 64, "
            f"`Simultaneous(optax.adam({LR:g}, b1={B1:g}, b2={B2:g}))` for both players, "
            f"{options.steps} steps, wrapped in `EMA(..., {DECAY:g}, players=(True, False))`: "
            "the last iterate's generator and the EMA generator of the same run are scored on "
            f"{SAMPLES} samples by `game.score` (classes covered: at least 2% of the samples; "
            "KL of the predicted classes from uniform; Fréchet distance of the scoring "
            "classifier's logits to its logits on the 898 held-out digits, lower is better). "
            "The baselines are `game.baselines()`: the 899 training digits themselves (what a "
            "generator that memorised them would score), one Gaussian and a mixture of 20 "
            f"Gaussians fitted to them ({SAMPLES} samples each, clipped to [0, 1]).",
            "",
            "| generator | seed | classes covered | KL from uniform | Fréchet distance |",
            "|---|---:|---:|---:|---:|",
            *rows,
            "",
            f"Over seeds {', '.join(map(str, range(options.seeds)))}: without a penalty, "
            f"{summary(0.0)}; with R1, {summary(1.0)}. The Fréchet distance depends on the "
            "number of samples (it is biased upwards for small sets): compare scores taken on "
            "the same number.",
            "",
            "Cost of a step on the same GAN (R1 on), milliseconds per step of `mx.solve`, best "
            f"of {options.rounds} interleaved calls of {TIMED_STEPS} steps after compilation; "
            "CGD and ACGD (tolerance `rtol=1e-4, atol=1e-6`) on the minimax form of the GAN "
            "(`f = -l_D`: ACGD is zero-sum only):",
            "",
            "| solver | ms/step | x Adam |",
            "|---|---:|---:|",
            *cost_rows,
        ]
    )
    print(body)
    if options.write:
        _docs.record("digits_gan.py", "A GAN on 8x8 digits: R1, EMA and ACGD", body, load)


if __name__ == "__main__":
    main()
