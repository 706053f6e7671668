"""Fixed vs legacy first step on every shipped game: the evidence behind docs/cycling.md.

For each game, optimizer (optimistic gradient, optimistic Adam) and `(alpha, beta)`, both rules
run from the same starts over `--seeds` seeds (each seed draws the game where it is random, the
start, and the mini-batches of stochastic games). The tables give each metric's mean with a 95%
confidence interval (Student t) for both rules and for their paired difference, fixed - legacy.
Learning rates are round values at which the runs converge (or, for the mixture GAN, train) for
both rules; they were never chosen to enlarge the difference.

    python benchmarks/cycling.py            # writes docs/cycling.md and docs/figures/cycling-*.png
    python benchmarks/cycling.py --quick    # 3 seeds, prints only
"""

import argparse
import math
import time
from dataclasses import dataclass
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import games
import minimax as mx

ROOT = Path(__file__).resolve().parent.parent
RULES = ("fixed", "legacy")
OPTIMIZERS = {"OGD": mx.optimistic_gradient, "OAdam": mx.optimistic_adam}


@dataclass(frozen=True)
class Setting:
    game: str
    optimizer: str
    lr: float
    alpha: float
    beta: float
    steps: int
    tol: float | None  # for steps_to_tol; None where no equilibrium is known


def start(key, shapes, scale=1.0):
    keys = jax.random.split(key, len(shapes))
    return tuple(scale * jax.random.normal(k, s) for k, s in zip(keys, shapes, strict=True))


def make_game(name: str, seed):
    """(game, start, key for mini-batches or None, equilibrium) for one seed."""
    k_game, k_start, k_batch = jax.random.split(jax.random.key(seed), 3)
    if name == "Bilinear":
        game = games.matrix_games(k_game, 10)["bilinear"]
        z0 = start(k_start, [(10,), (10,)])
        return game, z0, None, game.equilibrium(near=z0)
    if name == "QuadraticSaddle":
        game = games.matrix_games(k_game, 10, 8)["quadratic"]
        z0 = start(k_start, [(10,), (8,)])
        return game, z0, None, game.equilibrium()
    if name == "DiracGAN":
        game = games.DiracGAN("standard")
        z0 = start(k_start, [(), ()])
        return game, z0, None, game.equilibrium()
    if name == "GaussianMeanWGAN":
        game = games.GaussianMeanWGAN((3.0, 4.0), batch_size=64)
        z0 = start(k_start, [(2,), (2,)])
        return game, z0, k_batch, game.equilibrium()
    raise ValueError(name)


def over_seeds(one, seeds: int, names, label: str):
    """`one(seed) -> (metrics, curve, finite)` for every seed in one vmapped call: the metrics
    `names` in that order, and the curves, stacked over seeds."""
    metrics, curves, finite = jax.jit(jax.vmap(one))(jnp.arange(seeds))
    if not bool(finite.all()):
        raise RuntimeError(f"{label} diverged for some seed: lower its learning rate.")
    return {k: np.asarray(metrics[k]) for k in names}, np.asarray(curves)


def run(setting: Setting, rule: str, seeds: int):
    """Every seed's cycling report and distance curve, computed in one vmapped solve."""
    opt = OPTIMIZERS[setting.optimizer](setting.lr, setting.alpha, setting.beta, first_step=rule)
    solver = mx.Simultaneous(opt)

    def one(seed):
        game, z0, key, eq = make_game(setting.game, seed)
        sol = mx.solve(game, solver, z0, steps=setting.steps, key=key, throw=False)
        finite = sol.result == mx.RESULTS.successful
        return (
            mx.cycling(sol.trajectory, eq, tol=setting.tol)._asdict(),
            mx.distance(sol.trajectory, eq),
            finite,
        )

    return over_seeds(one, seeds, mx.Cycling._fields, f"{setting} ({rule})")


MIXTURE_WINDOW = 200  # the early window in which the transient is measured
MIXTURE_METRICS = (
    "first_move",
    "path_length",
    "grad_norm",
    "d_oscillation",
    "modes_covered",
    "high_quality",
)


def run_mixture(setting: Setting, rule: str, seeds: int):
    """MixtureGAN has no closed-form equilibrium: measure the transient in parameter space over
    the first `MIXTURE_WINDOW` steps, then train on and score the samples."""
    game = games.MixtureGAN("ring")
    lr = optax.cosine_decay_schedule(setting.lr, setting.steps, alpha=0.1)
    kwargs = {"b1": 0.5, "b2": 0.9} if setting.optimizer == "OAdam" else {}
    opt = OPTIMIZERS[setting.optimizer](lr, setting.alpha, setting.beta, first_step=rule, **kwargs)
    solver = mx.Simultaneous(opt)

    def one(seed):
        k_init, k_train, k_eval = jax.random.split(jax.random.key(seed), 3)
        players = game.init_players(k_init, width=64, depth=2)
        state = solver.init(game, players)
        early = mx.solve(game, solver, players, steps=MIXTURE_WINDOW, key=k_train, state=state)
        params = eqx.filter(early.trajectory, eqx.is_inexact_array)
        z = jnp.concatenate([x.reshape(x.shape[0], -1) for x in jax.tree.leaves(params)], axis=1)
        moves = jnp.linalg.norm(jnp.diff(z, axis=0), axis=1)

        def at(t):  # the players after t steps, the field they saw, and D on a fixed probe
            p = jax.tree.map(lambda a: a[t] if eqx.is_array(a) else a, early.trajectory)
            field = game.vector_field(p, None, jax.random.fold_in(k_train, t))
            norm = jnp.sqrt(sum(jnp.sum(g**2) for g in jax.tree.leaves(field)))
            return norm, jnp.mean(jax.vmap(p[1])(probe))

        probe = game.sample_data(k_eval, 512)
        grad_norms, d_means = jax.vmap(at)(jnp.arange(MIXTURE_WINDOW + 1))
        rest = mx.solve(
            game,
            solver,
            early.players,
            steps=setting.steps - MIXTURE_WINDOW,
            key=k_train,
            state=early.state,
            save_every=None,
            throw=False,
        )
        quality = game.metrics(game.sample(rest.players[0], k_eval, 2500))
        metrics = {
            "first_move": moves[0],
            "path_length": jnp.sum(moves),
            "grad_norm": jnp.mean(grad_norms),
            "d_oscillation": jnp.sum(jnp.abs(jnp.diff(d_means))),
            "modes_covered": quality.modes_covered.astype(float),
            "high_quality": quality.high_quality,
        }
        return metrics, d_means, rest.result == mx.RESULTS.successful

    return over_seeds(one, seeds, MIXTURE_METRICS, f"{setting} ({rule})")


# Student t quantiles t_{0.975, df}; beyond 30 degrees of freedom the normal 1.96 is close.
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306}
_T975 |= {9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 14: 2.145, 19: 2.093, 29: 2.045}


def mean_ci(values: np.ndarray) -> tuple[float, float]:
    """Mean and the half-width of its 95% confidence interval."""
    n = len(values)
    if n < 2 or not np.all(np.isfinite(values)):
        return float(np.mean(values)), float("nan")
    df = n - 1
    t = _T975.get(df) or _T975[max(k for k in _T975 if k <= df)] if df <= 29 else 1.96
    return float(np.mean(values)), t * float(np.std(values, ddof=1)) / math.sqrt(n)


def fmt(values: np.ndarray) -> str:
    finite = np.isfinite(values)
    if not finite.all():
        return f"inf ({int(finite.sum())}/{len(values)} reached)"
    m, h = mean_ci(values)
    return f"{m:.4g} ± {h:.2g}"


def verdict(diff: np.ndarray) -> str:
    if not np.all(np.isfinite(diff)):
        return "n/a"
    m, h = mean_ci(diff)
    if abs(m) <= h or h != h:
        return "no measurable difference"
    return "fixed lower" if m < 0 else "fixed higher"


def table(setting: Setting, results: dict) -> list[str]:
    fixed, legacy = results["fixed"][0], results["legacy"][0]
    rows = []
    for metric in fixed:
        diff = fixed[metric] - legacy[metric]
        rows.append(
            f"| {setting.optimizer} | {setting.lr:g} | {setting.alpha:g} | {setting.beta:g} | "
            f"{metric} | "
            f"{fmt(fixed[metric])} | {fmt(legacy[metric])} | {fmt(diff)} | {verdict(diff)} |"
        )
    return rows


# Per game: steps, tolerance, and (optimizer, lr, alpha, beta) settings. alpha / (alpha + beta)
# runs from 1/2 down to 1/11 (OGD) and 1/101 (optimistic Adam, optimism 100x the step, the regime
# of optax's own example). Learning rates are round values at which OGD converges for both rules
# and every seed; they were not searched for a larger difference.
SETTINGS = {
    "Bilinear": (
        3000,
        1e-4,
        [
            ("OGD", 0.2, 1, 1),
            ("OGD", 0.2, 1, 4),
            ("OGD", 0.5, 0.1, 1),
            ("OAdam", 0.01, 1, 1),
            ("OAdam", 0.1, 0.01, 1),
        ],
    ),
    "QuadraticSaddle": (
        2000,
        1e-4,
        [
            ("OGD", 0.1, 1, 1),
            ("OGD", 0.1, 1, 4),
            ("OGD", 0.5, 0.1, 1),
            ("OAdam", 0.01, 1, 1),
            ("OAdam", 0.1, 0.01, 1),
        ],
    ),
    "DiracGAN": (
        3000,
        1e-3,
        [
            ("OGD", 0.2, 1, 1),
            ("OGD", 0.2, 1, 4),
            ("OGD", 1.0, 0.1, 1),
            ("OAdam", 0.01, 1, 1),
            ("OAdam", 0.1, 0.01, 1),
        ],
    ),
    "GaussianMeanWGAN": (
        2000,
        0.05,
        [
            ("OGD", 0.05, 1, 1),
            ("OGD", 0.05, 1, 4),
            ("OGD", 0.2, 0.1, 1),
            ("OAdam", 0.01, 1, 1),
            ("OAdam", 0.1, 0.01, 1),
        ],
    ),
    # The `python -m minimax gan` recipe (cosine decay to 0.1x, b1 0.5, b2 0.9), 6000 steps.
    "MixtureGAN": (
        6000,
        None,
        [
            ("OGD", 0.05, 1, 1),
            ("OAdam", 1e-3, 1, 1),
            ("OAdam", 1e-3, 1, 4),
            ("OAdam", 5e-3, 0.2, 1),
        ],
    ),
}


def settings() -> list[Setting]:
    return [
        Setting(game, opt, lr, alpha, beta, steps, tol)
        for game, (steps, tol, rows) in SETTINGS.items()
        for opt, lr, alpha, beta in rows
    ]


def figure(name: str, curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mixture = name == "MixtureGAN"
    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.4), squeeze=False)
    for ax, (label, by_rule) in zip(axes[0], curves.items(), strict=True):
        for rule, style in zip(RULES, ("-", "--"), strict=True):
            c = by_rule[rule] if mixture else by_rule[rule] / by_rule[rule][:, :1]
            steps = np.arange(c.shape[1])
            (ax.plot if mixture else ax.semilogy)(steps, np.median(c, axis=0), style, label=rule)
            ax.fill_between(steps, *np.quantile(c, [0.1, 0.9], axis=0), alpha=0.2)
        ylabel = "mean D logit on real data" if mixture else "|z_t - z*| / |z_0 - z*|"
        ax.set(title=label, xlabel="step", ylabel=ylabel)
        ax.legend(fontsize=8)
    fig.suptitle(f"{name}: median and 10-90% band over seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


HEADER = """# Does the fixed first step reduce cycling?

Generated by `python benchmarks/cycling.py` ({seeds} seeds, {minutes:.1f} min on a 2-core CPU,
{date}); edit the script, not this page.

Every game below is run with `minimax.Simultaneous` and either `minimax.optimistic_gradient`
(OGD) or `minimax.optimistic_adam` (OAdam), once with `first_step="fixed"` (first step
`alpha * g_0`) and once with `first_step="legacy"` (first step `(alpha + beta) * g_0`), from the
same start, with the same mini-batches, for each seed. Each seed draws the random game (Bilinear:
10 x 10, singular values in [0.5, 1]; QuadraticSaddle: 10 x 8, mu = 0.1, L = 1) and the start
(standard normal). Cells give the mean over seeds with the half-width of its 95% confidence
interval (Student t); the last two columns are the paired difference fixed - legacy and whether
its interval excludes zero. `inf (k/n reached)`: k of n seeds reached the tolerance.

Metrics (see `minimax.Cycling`): lengths relative to the starting distance to the equilibrium;
`rotations` counts turns until the tolerance is reached. For MixtureGAN, which has no closed-form
equilibrium, the transient is measured in parameter space over the first {window} steps:
`first_move` and `path_length` are Euclidean norms of the change of all network parameters,
`grad_norm` the mean norm of the game's vector field, `d_oscillation` the total variation of the
discriminator's mean logit on a fixed batch of real data (it swings when training cycles);
`modes_covered` (of 8) and `high_quality` score 2500 samples after the last step.

## Summary

How many settings (optimizer, learning rate, alpha, beta) show each outcome, per game and metric:

| game | metric | fixed lower | no measurable difference | fixed higher | not reached |
|---|---|---:|---:|---:|---:|
"""


def summary(verdicts: dict) -> list[str]:
    rows = []
    for (game, metric), found in verdicts.items():
        count = [
            found.count(v)
            for v in ("fixed lower", "no measurable difference", "fixed higher", "n/a")
        ]
        rows.append(f"| {game} | {metric} | " + " | ".join(map(str, count)) + " |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="3 seeds, print only, no files")
    args = parser.parse_args()
    seeds = 3 if args.quick else args.seeds
    start_time = time.perf_counter()
    sections, curves, verdicts = {}, {}, {}
    for s in settings():
        t0 = time.perf_counter()
        runner = run_mixture if s.game == "MixtureGAN" else run
        results = {rule: runner(s, rule, seeds) for rule in RULES}
        sections.setdefault(
            s.game,
            [
                f"Steps {s.steps}" + ("" if s.tol is None else f", tolerance {s.tol:g}") + ".",
                "",
                f"![{s.game}](figures/cycling-{s.game}.png)",
                "",
                "| optimizer | lr | alpha | beta | metric | fixed | legacy | fixed - legacy | |",
                "|---|---:|---:|---:|---|---:|---:|---:|---|",
            ],
        )
        sections[s.game] += table(s, results)
        fixed, legacy = results["fixed"][0], results["legacy"][0]
        for metric in fixed:
            verdicts.setdefault((s.game, metric), []).append(
                verdict(fixed[metric] - legacy[metric])
            )
        label = f"{s.optimizer} lr={s.lr:g}, alpha={s.alpha:g}, beta={s.beta:g}"
        curves.setdefault(s.game, {})[label] = {rule: results[rule][1] for rule in RULES}
        print(f"{s} done in {time.perf_counter() - t0:.1f} s", flush=True)
    minutes = (time.perf_counter() - start_time) / 60
    header = HEADER.format(
        seeds=seeds, minutes=minutes, date=time.strftime("%Y-%m-%d"), window=MIXTURE_WINDOW
    )
    body = "\n".join(f"## {game}\n\n" + "\n".join(rows) + "\n" for game, rows in sections.items())
    text = header + "\n".join(summary(verdicts)) + "\n\n" + body
    print(text)
    if args.quick:
        return
    figures = ROOT / "docs" / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    for game, by_setting in curves.items():
        figure(game, by_setting, figures / f"cycling-{game}.png")
    (ROOT / "docs" / "cycling.md").write_text(text)


if __name__ == "__main__":
    main()
