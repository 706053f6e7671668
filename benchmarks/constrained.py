"""Constrained games: projected and multiplicative dynamics on matrix games, restarts, and the
first step of the optimistic rules on matrix games and on a constrained-learning Lagrangian.

Writes docs/constrained.md and its figures (docs/figures/constrained-*.png):

1. Last-iterate duality gaps of projected GDA, projected OGDA, multiplicative weights (MWU) and
   optimistic multiplicative weights (OMWU) on rock-paper-scissors and random matrix games.
2. Plain versus restarted (`minimax.Restarted`) OGDA and OMWU on the same matrix games, and
   OGDA and extra-gradient on random linear programs.
3. `first_step="fixed"` versus `"legacy"` on the matrix games, paired over seeds.
4. A Lagrangian: logistic regression with a rate constraint (the fraction of positive
   predictions, made smooth with a sigmoid, at most 0.3), fixed versus legacy first step.

Every run is in float64 (the gaps are followed down to 1e-6 and beyond), over `--seeds` seeds,
vmapped. Cells give the mean over seeds and the half-width of its 95% confidence interval
(Student t), with helpers shared with benchmarks/cycling.py.

    python benchmarks/constrained.py            # writes docs/constrained.md and its figures
    python benchmarks/constrained.py --quick    # 3 seeds, prints only
"""

import argparse
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from cycling import fmt, verdict  # noqa: E402  (benchmarks/cycling.py, beside this script)

import games  # noqa: E402
import minimax as mx  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "docs" / "figures"
RULES = ("fixed", "legacy")

# Matrix games ------------------------------------------------------------------------------

MATRIX_STEPS = 4000
GAP_TOL = 1e-6
LR_GRADIENT = 0.1  # projected GDA and OGDA
LR_WEIGHTS = 0.3  # MWU and OMWU
REPORT_AT = (10, 100, 1000, MATRIX_STEPS)


def matrix_game(name: str, key):
    """(game, start) for one seed: the start is drawn uniformly on the simplices."""
    k_game, kx, ky = jax.random.split(key, 3)
    if name == "rock-paper-scissors":
        game, (n, m) = games.MatrixGame.rock_paper_scissors(), (3, 3)
    else:
        game, (n, m) = games.MatrixGame.random(k_game, 10, 8), (10, 8)
    return game, (jax.random.dirichlet(kx, jnp.ones(n)), jax.random.dirichlet(ky, jnp.ones(m)))


MATRIX_GAMES = ("rock-paper-scissors", "random 10 x 8")


def optimizer(family: str, beta, rule: str = "fixed"):
    """Projected (optimistic) gradient or (optimistic) multiplicative weights; `beta = 0` is the
    plain rule (GDA, MWU), `beta = 1` the optimistic one. `beta` may be traced."""
    if family == "gradient":
        return mx.optimistic_gradient(LR_GRADIENT, 1.0, beta, first_step=rule)
    return mx.optimistic_multiplicative_weights(LR_WEIGHTS, 1.0, beta, first_step=rule)


NAMES = {("gradient", 0): "projected GDA", ("gradient", 1): "projected OGDA"}
NAMES |= {("weights", 0): "MWU", ("weights", 1): "OMWU"}


def matrix_runs(name: str, family: str, seeds: int, rule: str, restarted: bool = False):
    """Trajectories (every step) of one family for beta in (0, 1) and every seed: arrays of
    shape (2, seeds, steps + 1, n)."""

    def one(beta, seed):
        game, z0 = matrix_game(name, jax.random.key(seed))
        solver = mx.Simultaneous(optimizer(family, beta, rule))
        if restarted:
            solver = mx.Restarted(solver)
        sol = mx.solve(game, solver, z0, steps=MATRIX_STEPS)
        return sol.trajectory, game.duality_gap(sol.trajectory)

    run = jax.jit(jax.vmap(jax.vmap(one, in_axes=(None, 0)), in_axes=(0, None)))
    trajectory, gaps = run(jnp.array([0.0, 1.0]), jnp.arange(seeds))
    return jax.tree.map(np.asarray, trajectory), np.asarray(gaps)


def first_below(curves: np.ndarray, tol: float, every: int = 1) -> np.ndarray:
    """Per row, the first recorded step at which the curve is at most `tol` (inf if never)."""
    below = curves <= tol
    return np.where(below.any(axis=-1), every * np.argmax(below, axis=-1), np.inf)


def gap_figure(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(5.2 * len(curves), 3.6), squeeze=False)
    for ax, (game, by_method) in zip(axes[0], curves.items(), strict=True):
        for method, c in by_method.items():
            c = np.maximum(c, 1e-17)
            steps = np.arange(c.shape[1])
            ax.semilogy(steps, np.median(c, axis=0), label=method)
            ax.fill_between(steps, *np.quantile(c, [0.1, 0.9], axis=0), alpha=0.15)
        ax.set(title=game, xlabel="step", ylabel="duality gap of the last iterate")
        ax.legend(fontsize=8)
    fig.suptitle("Last-iterate duality gap: median and 10-90% band over seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# Linear programs ---------------------------------------------------------------------------

LP_SIZE, LP_STEPS, LP_EVERY, LP_TOL = (10, 30), 16_384, 64, 1e-6
LP_METHODS = {
    "projected OGDA (lr 0.45)": (mx.Simultaneous(mx.optimistic_gradient(0.45)), 1),
    "projected EG (lr 0.9)": (mx.ExtraGradient(optax.sgd(0.9)), 2),
}


def _kkt(players, lp):
    return lp.kkt_error(players)


def lp_runs(solver, seeds: int):
    """KKT error every `LP_EVERY` steps and the restart count, per seed."""

    def one(seed):
        lp = games.LinearProgram.random(jax.random.key(seed), *LP_SIZE, rescale=True)
        m, n = LP_SIZE
        sol = mx.solve(
            lp,
            solver,
            (jnp.zeros(n), jnp.zeros(m)),
            steps=LP_STEPS,
            save_every=LP_EVERY,
            save=_kkt,
            args=lp,
        )
        restarts = getattr(sol.state.solver, "restarts", jnp.array(0))
        return sol.trajectory, restarts

    kkt, restarts = jax.jit(jax.vmap(one))(jnp.arange(seeds))
    return np.asarray(kkt), np.asarray(restarts)


# The Lagrangian ----------------------------------------------------------------------------

RATE = 0.3  # at most this fraction of positive predictions
N_DATA, DIM = 500, 5
LAGRANGIAN_STEPS = 3000
VIOLATION_TOL = 1e-3
# (family, lr, alpha, beta): legacy first steps 2x, 11x, 2x and 11x the fixed ones.
LAGRANGIAN_SETTINGS = {
    "gradient": [(1.0, 1.0, 1.0), (1.0, 0.1, 1.0)],
    "adam": [(0.01, 1.0, 1.0), (0.1, 0.1, 1.0)],
}


def classification_data(key):
    """Features and labels, about 60% positive: unconstrained, the classifier predicts positive
    about that often, so the rate constraint binds."""
    kx, kw, kn = jax.random.split(key, 3)
    X = jax.random.normal(kx, (N_DATA, DIM))
    w = jax.random.normal(kw, (DIM,))
    labels = (X @ w + 0.5 + 0.5 * jax.random.normal(kn, (N_DATA,)) > 0).astype(X.dtype)
    return X, labels


def log_loss(params, data):
    (w, b), (X, labels) = params, data
    z = X @ w + b
    return jnp.mean(jnp.logaddexp(0, z) - labels * z) + 1e-3 / 2 * jnp.sum(w**2)


def positive_rate_excess(params, data):
    """The smooth rate of positive predictions, mean(sigmoid(w.x + b)), minus its bound."""
    (w, b), (X, _) = params, data
    return jnp.mean(jax.nn.sigmoid(X @ w + b)) - RATE


LAGRANGIAN = games.Lagrangian(log_loss, inequality=positive_rate_excess)


def lagrangian_runs(family: str, rule: str, seeds: int):
    """Per setting and seed: the constraint's value and the multiplier at every step, and the
    final KKT error and loss."""

    def one(lr, alpha, beta, seed):
        data = classification_data(jax.random.key(seed))
        if family == "gradient":
            opt = mx.optimistic_gradient(lr, alpha, beta, first_step=rule)
        else:
            opt = mx.optimistic_adam(lr, alpha, beta, first_step=rule)
        x0 = (jnp.zeros(DIM), jnp.zeros(()))
        players = (x0, LAGRANGIAN.initial_multipliers(x0, data))
        sol = mx.solve(LAGRANGIAN, mx.Simultaneous(opt), players, steps=LAGRANGIAN_STEPS, args=data)
        xs, (lams, _) = sol.trajectory
        excess = jax.vmap(lambda w, b: positive_rate_excess((w, b), data))(*xs)
        return (
            excess,
            lams,
            LAGRANGIAN.kkt_error(sol.players, data),
            log_loss(sol.players[0], data),
        )

    settings = jnp.array(LAGRANGIAN_SETTINGS[family])
    per_seed = jax.vmap(one, in_axes=(None, None, None, 0))
    run = jax.jit(jax.vmap(per_seed, in_axes=(0, 0, 0, None)))
    return [np.asarray(a) for a in run(*settings.T, jnp.arange(seeds))]


def lagrangian_metrics(excess, lams, kkt, loss) -> dict[str, np.ndarray]:
    violation = np.maximum(excess, 0)
    outside = violation > VIOLATION_TOL
    last_out = np.where(
        outside.any(axis=-1), outside.shape[-1] - np.argmax(outside[..., ::-1], axis=-1), 0
    )
    return {
        "multiplier's first step": lams[..., 1],
        "peak violation": violation.max(axis=-1),
        "peak slack (over-correction)": np.maximum(-excess, 0).max(axis=-1),
        "multiplier's overshoot (max / final)": lams.max(axis=-1) / lams[..., -1],
        f"steps to violation <= {VIOLATION_TOL:g} for good": np.where(
            outside[..., -1], np.inf, last_out
        ).astype(float),
        "final KKT error": kkt,
        "final loss": loss,
    }


def violation_figure(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.4), squeeze=False)
    for ax, (label, by_rule) in zip(axes[0], curves.items(), strict=True):
        for rule, style in zip(RULES, ("-", "--"), strict=True):
            c = by_rule[rule][:, :400]
            steps = np.arange(c.shape[1])
            ax.plot(steps, np.median(c, axis=0), style, label=rule)
            ax.fill_between(steps, *np.quantile(c, [0.1, 0.9], axis=0), alpha=0.2)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set(title=label, xlabel="step", ylabel="rate - 0.3 (> 0: violated)")
        ax.legend(fontsize=8)
    fig.suptitle("Rate constraint over the first 400 steps: median and 10-90% band over seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# The page ----------------------------------------------------------------------------------


def paired_rows(prefix: str, fixed: dict, legacy: dict) -> list[str]:
    rows = []
    for metric in fixed:
        with np.errstate(invalid="ignore"):  # inf - inf where a threshold is never reached
            diff = fixed[metric] - legacy[metric]
        rows.append(
            f"| {prefix} | {metric} | {fmt(fixed[metric])} | {fmt(legacy[metric])} "
            f"| {fmt(diff)} | {verdict(diff)} |"
        )
    return rows


def matrix_first_step_metrics(trajectory, gaps) -> dict[str, np.ndarray]:
    z = np.concatenate(trajectory, axis=-1)  # (seeds, steps + 1, n + m)
    moves = np.linalg.norm(np.diff(z, axis=-2), axis=-1)
    return {
        "first move (norm of z_1 - z_0)": moves[..., 0],
        "peak gap / initial gap": gaps.max(axis=-1) / gaps[..., 0],
        "path length": moves.sum(axis=-1),
        "gap at step 10": gaps[..., 10],
        f"steps to gap <= {GAP_TOL:g}": first_below(gaps, GAP_TOL),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="3 seeds, print only, no files")
    options = parser.parse_args()
    seeds = 3 if options.quick else options.seeds
    started, cpu_started = time.perf_counter(), time.process_time()

    # 1 and 3: matrix games, both rules; 2: restarted.
    gap_rows, restart_rows, first_rows, curves = [], [], [], {}
    for name in MATRIX_GAMES:
        for family in ("gradient", "weights"):
            runs = {rule: matrix_runs(name, family, seeds, rule) for rule in RULES}
            trajectory, gaps = runs["fixed"]
            for b in (0, 1):
                method = NAMES[family, b]
                curves.setdefault(name, {})[method] = gaps[b]
                cells = " | ".join(fmt(gaps[b][:, t]) for t in (0, *REPORT_AT))
                gap_rows.append(f"| {name} | {method} | {cells} |")
            # The optimistic rule (beta = 1), fixed versus legacy.
            fixed, legacy = (
                matrix_first_step_metrics(jax.tree.map(lambda a: a[1], runs[r][0]), runs[r][1][1])
                for r in RULES
            )
            first_rows += paired_rows(f"{name} | {NAMES[family, 1]}", fixed, legacy)
            _, restarted = matrix_runs(name, family, seeds, "fixed", restarted=True)
            for b in (0, 1):
                plain_steps = first_below(gaps[b], GAP_TOL)
                restarted_steps = first_below(restarted[b], GAP_TOL)
                restart_rows.append(
                    f"| {name} | {NAMES[family, b]} | duality gap {GAP_TOL:g} "
                    f"| {fmt(plain_steps)} | {fmt(restarted_steps)} | {fmt(gaps[b][:, -1])} "
                    f"| {fmt(restarted[b][:, -1])} |"
                )
            print(f"{name}, {family}: {time.perf_counter() - started:.0f} s", flush=True)

    m, n = LP_SIZE
    for method, (solver, evals) in LP_METHODS.items():
        plain, _ = lp_runs(solver, seeds)
        restarted, restarts = lp_runs(mx.Restarted(solver), seeds)
        steps = [first_below(k, LP_TOL, LP_EVERY) * evals for k in (plain, restarted)]
        restart_rows.append(
            f"| LP {m} x {n} | {method} | KKT error {LP_TOL:g} (evaluations) | {fmt(steps[0])} "
            f"| {fmt(steps[1])} | {fmt(plain[:, -1])} | {fmt(restarted[:, -1])} |"
        )
        print(f"LP, {method}: {time.perf_counter() - started:.0f} s", flush=True)

    # 4: the Lagrangian.
    lagrangian_rows, violation_curves = [], {}
    for family, settings in LAGRANGIAN_SETTINGS.items():
        results = {rule: lagrangian_runs(family, rule, seeds) for rule in RULES}
        for i, (lr, alpha, beta) in enumerate(settings):
            name = "OGD" if family == "gradient" else "OAdam"
            label = f"{name} lr={lr:g}, alpha={alpha:g}, beta={beta:g}"
            fixed, legacy = (lagrangian_metrics(*(a[i] for a in results[rule])) for rule in RULES)
            lagrangian_rows += paired_rows(label, fixed, legacy)
            violation_curves[label] = {rule: results[rule][0][i] for rule in RULES}
        print(f"Lagrangian, {family}: {time.perf_counter() - started:.0f} s", flush=True)

    minutes = (time.perf_counter() - started) / 60
    text = PAGE.format(
        seeds=seeds,
        minutes=minutes,
        cpu_minutes=(time.process_time() - cpu_started) / 60,
        date=time.strftime("%Y-%m-%d"),
        steps=MATRIX_STEPS,
        lr_gradient=LR_GRADIENT,
        lr_weights=LR_WEIGHTS,
        report_at=" | ".join(f"gap at {t}" for t in (0, *REPORT_AT)),
        report_align="---:|" * (len(REPORT_AT) + 1),
        gap_rows="\n".join(gap_rows),
        restart_rows="\n".join(restart_rows),
        first_rows="\n".join(first_rows),
        lagrangian_rows="\n".join(lagrangian_rows),
        gap_tol=GAP_TOL,
        lp=f"{m} x {n}",
        lp_steps=LP_STEPS,
        lp_tol=LP_TOL,
        lagrangian_steps=LAGRANGIAN_STEPS,
        n_data=N_DATA,
        dim=DIM,
        rate=RATE,
    )
    print(text)
    if options.quick:
        return
    FIGURES.mkdir(parents=True, exist_ok=True)
    gap_figure(curves, FIGURES / "constrained-matrix-gaps.png")
    violation_figure(violation_curves, FIGURES / "constrained-lagrangian.png")
    (ROOT / "docs" / "constrained.md").write_text(text)


PAGE = """# Constrained games: projections, restarts and the first step

Generated by `python benchmarks/constrained.py` ({seeds} seeds, {minutes:.1f} min of wall clock
and {cpu_minutes:.1f} min of CPU time on a shared 2-core CPU, {date}, float64); edit the script,
not this page.

Constraints belong to the game (its `project`), and every solver applies the projection after
each move. Cells give the mean over seeds with the half-width of its 95% confidence interval
(Student t); `inf (k/n reached)`: only k of n seeds reached the threshold.

## Matrix games: the last iterate

`games.MatrixGame` on rock-paper-scissors (unique equilibrium, uniform, in the interior) and on
random 10 x 8 games with standard normal payoffs (equilibria in general on the boundary of the
simplices), from a start drawn uniformly on the simplices for each seed; {steps} steps.
Projected GDA and OGDA are `minimax.Simultaneous` with `optax.sgd`-like steps of
`minimax.optimistic_gradient({lr_gradient}, beta=0 or 1)` onto the simplices (the game's
projection); MWU and OMWU are `minimax.optimistic_multiplicative_weights({lr_weights}, beta=0 or
1)` (`beta = 0`: plain multiplicative weights). The exact duality gap
(`MatrixGame.duality_gap`) of the last iterate:

![Duality gaps](figures/constrained-matrix-gaps.png)

| game | method | {report_at} |
|---|---|{report_align}
{gap_rows}

The plain rules' last iterates do not converge: on rock-paper-scissors they cycle outwards
towards the boundary of the simplex (multiplicative weights' gap approaches the largest possible
value, 2). The optimistic rules converge in the last iterate, projected OGDA fastest at these
step sizes.

## Restarts

`minimax.Restarted(solver)` with its defaults (merit: the natural residual
`|z - P(z - F(z))|`; checked every 64 steps; restart from the better of the average since the
last restart and the current iterate once the merit has fallen below 0.2 times its value at the
last restart). Steps to the threshold (the first step at which the gap, or the KKT error, is
below it; for the LPs, field evaluations at a 64-step granularity), and the final value.
Matrix games: the runs above, {steps} steps. LPs: `games.LinearProgram.random` of size {lp}
with `rescale=True`, from zero, {lp_steps} steps; the KKT error is PDLP's relative criterion
(see `docs/linear-programs.md`).

| problem | method | threshold | plain: steps | restarted: steps | plain: final | restarted: final |
|---|---|---|---:|---:|---:|---:|
{restart_rows}

Restarts speed up every optimistic rule here: on rock-paper-scissors they reach a gap of 1e-6 in
fewer than half the steps, and on the random games and LPs they reach thresholds that the plain
rules miss within the budget on most seeds. Not on all: the seeds that restarted OGDA and EG
leave above a KKT error of 1e-6 are the three LPs (seeds 3, 6 and 8) whose optimal basis is
ill-conditioned (condition numbers 1499, 319 and 1688, against 9 to 27 for the others), on
which MPAX's PDLP (raPDHG) too needs 368,457, 5,449 and 44,361 iterations, against 368 to 969
on the other seven. Restarts do not rescue the plain rules: GDA's and MWU's
last iterates stay as far from the equilibrium as without them.

## The first step on matrix games

The optimistic rules with `first_step="fixed"` (first step `alpha * g_0`) and
`"legacy"` (`(alpha + beta) * g_0`, twice as large here), from the same start for each seed;
the columns fixed - legacy are paired differences, with whether their interval excludes zero.

| game | method | metric | fixed | legacy | fixed - legacy | |
|---|---|---|---:|---:|---:|---|
{first_rows}

On matrix games the first step is taken on the simplex, whose diameter bounds how far any step
can go, and the projection (or the multiplicative normalisation) absorbs much of a too-large
step: the legacy first move is larger, but the differences that follow are small next to the
run, often not measurable.

## Constrained learning: a rate constraint

A logistic-regression classifier, `(w, b)` with `w` in R^{dim}, on {n_data} points whose labels
are about 60% positive, must predict positive at most {rate} of the time, the rate made smooth:

```
min_(w, b)  mean(log(1 + exp(z)) - label * z) + 0.0005 |w|^2,   z = X w + b,
s.t.        mean(sigmoid(z)) - {rate} <= 0,
```

as the game `games.Lagrangian(loss, inequality=rate_excess)` between `(w, b)` and the
multiplier `lam >= 0`, from `w = 0, b = 0` (rate 0.5: violated) and `lam = 0`, {lagrangian_steps}
steps of `minimax.Simultaneous` with `minimax.optimistic_gradient` (OGD) or
`minimax.optimistic_adam` (OAdam). Each seed draws the data. At the start the multiplier is
zero, so the classifier first moves towards the unconstrained optimum (more positives) until
`lam` has grown enough: the multiplier's first step decides how soon it pushes back.

![Constraint violation](figures/constrained-lagrangian.png)

| setting | metric | fixed | legacy | fixed - legacy | |
|---|---|---:|---:|---:|---|
{lagrangian_rows}

Both players take the legacy rule's larger first step: the multiplier, but also the classifier,
towards more positive predictions. With optimistic gradient the second effect wins: the legacy
run's peak violation is higher (by about a tenth), although its larger multiplier pushes back a
little sooner, so its violation settles below 1e-3 a few steps earlier. The multiplier's
overshoot and the over-correction (the slack after it) are slightly larger too, and the runs
end at the same KKT point. With optimistic Adam at `alpha = 0.1`, where the legacy first step is
11 times too large, it doubles the over-correction. The differences are real (the intervals
exclude zero) but small next to the transient itself: the first step matters less here than
the learning rate and `alpha`.
"""


if __name__ == "__main__":
    main()
