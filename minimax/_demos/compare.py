"""Fixed vs legacy first step of optimistic gradient descent-ascent, side by side."""

import argparse
import time

import jax

import games
import minimax as mx

RULES = ("fixed", "legacy")


def make_game(name: str, dim: int, key):
    if name == "bilinear":
        return games.Bilinear.random(key, dim, sigma_min=0.5)
    return games.QuadraticSaddle.random(key, dim, mu=0.1, linear=True)


def compare(game, players, *, lr, alpha, beta, steps, tol):
    """Run both rules from the same start; return {rule: (solution, cycling report)}."""
    out = {}
    for rule in RULES:
        solver = mx.Simultaneous(mx.optimistic_gradient(lr, alpha, beta, first_step=rule))
        sol = mx.solve(game, solver, players, steps=steps)
        out[rule] = sol, mx.cycling(sol.trajectory, game.equilibrium(near=players), tol=tol)
    return out


def table(results: dict) -> str:
    """A Markdown table of every game's cycling metrics for both rules."""
    lines = [
        "| game | metric | fixed | legacy | fixed / legacy |",
        "|---|---|---:|---:|---:|",
    ]
    for name, runs in results.items():
        fixed, legacy = runs["fixed"][1], runs["legacy"][1]
        for metric in mx.Cycling._fields:
            a, b = float(getattr(fixed, metric)), float(getattr(legacy, metric))
            ratio = a / b if b not in (0.0, float("inf")) else float("nan")
            lines.append(f"| {name} | {metric} | {a:.4g} | {b:.4g} | {ratio:.3f} |")
    return "\n".join(lines)


def plot(results: dict, game_eqs: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 2, figsize=(10, 4.2 * len(results)), squeeze=False)
    for row, (name, runs) in zip(axes, results.items(), strict=True):
        x_star, y_star = game_eqs[name]
        for rule, style in zip(RULES, ("-", "--"), strict=True):
            sol = runs[rule][0]
            xs, ys = sol.trajectory
            row[0].plot(xs[:, 0], ys[:, 0], style, lw=1, label=rule)
            row[1].semilogy(mx.distance(sol.trajectory, game_eqs[name]), style, label=rule)
        row[0].plot(x_star[0], y_star[0], "k*", ms=10, label="equilibrium")
        row[0].set(title=f"{name}: first coordinates", xlabel="x[0]", ylabel="y[0]")
        row[1].set(title=f"{name}: distance to equilibrium", xlabel="step", ylabel="|z_t - z*|")
        for ax in row:
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m minimax",
        description=(
            "Run optimistic gradient descent-ascent with the fixed first step (alpha * g_0) and "
            "the legacy one ((alpha + beta) * g_0) from the same start, print the cycling "
            "metrics side by side and plot the trajectories. See also `python -m minimax gan "
            "--help`."
        ),
    )
    parser.add_argument(
        "--game", choices=["bilinear", "quadratic", "both"], default="both", help="(default both)"
    )
    parser.add_argument("--dim", type=int, default=4, help="players' dimension (default 4)")
    parser.add_argument("--steps", type=int, default=2000, help="steps per run (default 2000)")
    parser.add_argument("--lr", type=float, default=0.2, help="learning rate (default 0.2)")
    parser.add_argument("--alpha", type=float, default=1.0, help="weight of g_t (default 1)")
    parser.add_argument("--beta", type=float, default=1.0, help="weight of g_t - g_{t-1} (1)")
    parser.add_argument("--tol", type=float, default=1e-4, help="for steps_to_tol (1e-4)")
    parser.add_argument("--seed", type=int, default=0, help="game and start (default 0)")
    parser.add_argument("--out", default="minimax-compare.png", help="figure path ('' for none)")
    args = parser.parse_args(argv)
    if args.dim < 1 or args.steps < 1:
        parser.error("--dim and --steps must be positive")
    try:  # the optimizer's own checks of --lr, --alpha and --beta
        mx.optimistic_gradient(args.lr, args.alpha, args.beta)
    except ValueError as error:
        parser.error(str(error))

    names = ["bilinear", "quadratic"] if args.game == "both" else [args.game]
    results, eqs = {}, {}
    start = time.perf_counter()
    for name in names:
        kg, kx, ky = jax.random.split(jax.random.fold_in(jax.random.key(args.seed), len(name)), 3)
        game = make_game(name, args.dim, kg)
        z0 = jax.random.normal(kx, (args.dim,)), jax.random.normal(ky, (args.dim,))
        results[name] = compare(
            game, z0, lr=args.lr, alpha=args.alpha, beta=args.beta, steps=args.steps, tol=args.tol
        )
        eqs[name] = game.equilibrium(near=z0)
    elapsed = time.perf_counter() - start

    print(
        f"OGDA, lr={args.lr}, alpha={args.alpha}, beta={args.beta}, {args.steps} steps, "
        f"dim={args.dim}, seed={args.seed} ({elapsed:.1f} s). Lengths are relative to the "
        "starting distance; see help(minimax.Cycling).\n"
    )
    print(table(results))
    if args.out:
        try:
            plot(results, eqs, args.out)
        except ImportError:
            print("\nNo figure: install matplotlib (pip install 'minimax[plots]').")
        else:
            print(f"\nFigure written to {args.out}")
