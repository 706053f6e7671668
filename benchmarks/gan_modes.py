"""Mode coverage of the `python -m minimax gan` recipe over seeds.

Trains the command's ring recipe (`python -m minimax gan --data ring`) once per seed on the
8-Gaussian ring and reports modes covered, high-quality samples and wall time per run.

    python benchmarks/gan_modes.py             # seeds 0-9, prints a table
    python benchmarks/gan_modes.py --write     # also records it in docs/benchmarks.md
"""

import argparse
import os

import _docs  # benchmarks/_docs.py, beside this script

from minimax.demos.gan import recipe, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--write", action="store_true", help="record it in docs/")
    options = parser.parse_args()
    load = os.getloadavg()[0]
    rows, covered = [], 0
    for seed in range(options.seeds):
        run = train(recipe("ring", seed=seed, no_progress=True))
        metrics = run.game.metrics(run.snapshots["samples"][-1])
        modes = int(metrics.modes_covered)
        covered += modes >= 7
        rows.append(
            f"| {seed} | {modes} / {run.game.num_modes} | {float(metrics.high_quality):.1%} | "
            f"{run.seconds:.1f} |"
        )
        print(rows[-1], flush=True)
    defaults = recipe("ring")
    body = "\n".join(
        [
            f"Default recipe: {defaults.steps} steps, tanh MLPs {defaults.width} x "
            f"{defaults.depth}, latent {defaults.latent_size}, batch {defaults.batch_size}, "
            f"`optimistic_adam({defaults.lr}, alpha={defaults.alpha}, beta={defaults.beta}, "
            f"b1={defaults.b1}, b2={defaults.b2})` for both players, cosine-decayed to "
            f"{defaults.decay_to}x. Seconds per run include compilation.",
            "",
            "| seed | modes covered | high-quality samples | seconds |",
            "|---:|---:|---:|---:|",
            *rows,
            "",
            f"At least 7 of 8 modes in **{covered} of {options.seeds}** seeds.",
        ]
    )
    print(body)
    if options.write:
        _docs.record("gan_modes.py", "Mode coverage of `python -m minimax gan`", body, load)


if __name__ == "__main__":
    main()
