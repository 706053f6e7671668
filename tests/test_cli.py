"""`python -m minimax` and `python -m minimax gan`, run in-process on short settings."""

import sys

import numpy as np
import pytest

import minimax.demos.compare
import minimax.demos.gan
from minimax.__main__ import main


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Run in an empty folder, so that a default figure would land there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def no_matplotlib(monkeypatch):
    """Make `import matplotlib` (and its submodules) fail, as without the plots extra."""
    for name in [n for n in sys.modules if n == "matplotlib" or n.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    for name in ("matplotlib", "matplotlib.backend_bases", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, name, None)


@pytest.fixture
def no_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)


def first_move_ratios(printed: str, game: str) -> list[str]:
    """The `fixed / legacy = ratio` ratios of the first_move column, for each row of `game`."""
    rows = [line for line in printed.splitlines() if line.startswith(f"| {game} ")]
    return [row.split("|")[4].split("=")[1].strip() for row in rows]


def test_compare(workdir, capsys):
    main(["--steps", "60", "--dim", "2", "--beta", "1", "4", "--out", "compare.png"])
    printed = capsys.readouterr().out
    header = next(line for line in printed.splitlines() if line.startswith("| game "))
    assert [cell.strip() for cell in header.strip("|").split("|")] == [
        "game", "beta/alpha", "lr", "first_move", "overshoot", "path_length", "rotations",
        "steps_to_tol",
    ]  # fmt: skip
    # The fixed rule's first step is alpha / (alpha + beta) of the legacy one: 1/2, then 1/5.
    assert first_move_ratios(printed, "bilinear") == ["0.500", "0.200"]
    assert first_move_ratios(printed, "quadratic") == ["0.500", "0.200"]
    assert "lr = 0.4 / (alpha + beta)" in printed
    assert (workdir / "compare.png").stat().st_size > 10_000


def test_compare_given_lr_and_no_suffix(workdir, capsys):
    main(["compare", "--game", "bilinear", "--steps", "30", "--dim", "2", "--beta", "2"]
         + ["--lr", "0.1", "--out", "fig"])  # fmt: skip
    printed = capsys.readouterr().out
    assert "lr = 0.1 in every row" in printed and first_move_ratios(printed, "bilinear") == [
        "0.333"
    ]
    assert "Figure written to fig.png" in printed and (workdir / "fig.png").exists()


TINY = ["--width", "8", "--no-progress", "--snapshots", "2"]


def test_gan_ring(workdir, capsys):
    main(["gan", "--data", "ring", "--steps", "40", *TINY, "--out", "gan.png"])
    printed = capsys.readouterr().out
    assert "modes covered:" in printed and (workdir / "gan.png").stat().st_size > 10_000


def test_gan_digits(workdir, capsys):
    """The default data: the score beside the baselines, a figure, and 1000 samples of the EMA
    generator on the digits' 0-16 scale."""
    main(["gan", "--steps", "8", *TINY, "--out", "gan.png", "--samples", "s.npy"])
    printed = capsys.readouterr().out
    assert "digits, 8 steps of Simultaneous(adam(" in printed and "EMA 0.999" in printed
    assert "EMA generator (this run)" in printed and "baseline: mixture" in printed
    assert (workdir / "gan.png").stat().st_size > 10_000
    samples = np.load(workdir / "s.npy")
    assert samples.shape == (1000, 64) and samples.dtype == np.float32
    assert samples.min() >= 0 and samples.max() <= 16 and samples.max() > 1  # 0-16, not [0, 1]


@pytest.mark.parametrize(
    "options, described",
    [
        (["--solver", "oadam", "--first-step", "legacy"], "first_step='legacy'"),
        (
            ["--solver", "extra-adam", "--ema", "off", "--r1", "0"],
            "share_state=True), R1 gamma=0, no EMA",
        ),
        (["--solver", "acgd", "--b2", "0.9"], "ACGD(lr=0.001, beta=0.9)"),
        (["--solver", "cgd", "--lr", "0.01", "--decay-to", "0.5"], "CGD(lr=0.01 cosine-decayed"),
    ],
)
def test_gan_solvers(options, described, workdir, capsys):
    main(["gan", "--steps", "4", *TINY, "--out", "", "--samples", "s.npy", *options])
    printed = capsys.readouterr().out
    assert described in printed and "(this run)" in printed
    assert np.isfinite(np.load(workdir / "s.npy")).all()


def test_gan_checkpoint_resumes(workdir, capsys, monkeypatch):
    """A run killed after its first checkpoint, run again, ends with the same samples as an
    uninterrupted run."""
    import minimax._checkpoint

    command = ["gan", "--steps", "8", "--snapshots", "3", *TINY, "--out", ""]
    main([*command, "--samples", "whole.npy"])
    write = minimax._checkpoint.write_checkpoint

    def killed(*args, **kwargs):
        write(*args, **kwargs)
        raise KeyboardInterrupt

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(minimax._checkpoint, "write_checkpoint", killed)
        main([*command, "--checkpoint", "run.ckpt", "--samples", "resumed.npy"])
    assert (workdir / "run.ckpt").exists() and not (workdir / "resumed.npy").exists()
    main([*command, "--checkpoint", "run.ckpt", "--samples", "resumed.npy"])
    assert "checkpoint: run.ckpt" in capsys.readouterr().out
    np.testing.assert_array_equal(np.load("resumed.npy"), np.load("whole.npy"))


def test_without_plots_extra(workdir, capsys, no_matplotlib, no_tqdm):
    """Without matplotlib and tqdm: the default figure is skipped with a hint, and the GAN shows
    a plain progress line."""
    main(["--steps", "20", "--dim", "2", "--beta", "1"])
    printed = capsys.readouterr().out
    assert "No figure: matplotlib is not installed; pip install 'minimax-jax[plots]'" in printed
    assert "| bilinear " in printed
    main(["gan", "--data", "ring", "--steps", "20", "--width", "8"])
    captured = capsys.readouterr()
    assert "modes covered:" in captured.out and "No figure" in captured.out
    assert "\rtraining: 100% 20/20 steps [" in captured.err and captured.err.endswith("\n")
    assert list(workdir.iterdir()) == []


BAD_OPTIONS = [
    (["--lr", "inf"], "argument --lr: must be finite"),
    (["--lr", "nan"], "argument --lr: must be finite"),
    (["--lr", "0"], "argument --lr: must be positive"),
    (["--lr", "fast"], "argument --lr: must be a number"),
    (["--alpha", "0"], "argument --alpha: must be positive"),
    (["--beta", "1", "-4"], "argument --beta: must be non-negative"),
    (["--tol", "-1"], "argument --tol: must be in (0, 1)"),
    (["--tol", "0"], "argument --tol: must be in (0, 1)"),
    (["--steps", "0"], ("argument --steps: must be", "positive")),
    (["--steps", "1e3"], "argument --steps: must be an int"),
    (["--dim", "-2"], ("argument --dim: must be", "positive")),
    (["--seed", "-1"], "argument --seed: must be an int in [0, 4294967295]"),
    (["--steps", "1000000", "--dim", "1000"], "--steps 1000000 with --dim 1000"),
    (["--out", "no/such/folder/fig.png"], "--out 'no/such/folder/fig.png': the folder"),
    (["--out", "."], "--out '.' is a folder"),
    (["--out", "fig.xyz"], "--out 'fig.xyz': matplotlib cannot write .xyz files"),
    (["compare", "--game", "chess"], "argument --game: invalid choice"),
    (["comapre"], "unknown command 'comapre'"),
    (["gan", "--beta", "-1"], "argument --beta: must be non-negative"),
    (["gan", "--alpha", "inf"], "argument --alpha: must be finite"),
    (["gan", "--b1", "2"], "argument --b1: must be in [0, 1)"),
    (["gan", "--b2", "1"], "argument --b2: must be in [0, 1)"),
    (["gan", "--lr", "nan"], "argument --lr: must be finite"),
    (["gan", "--lr-d", "-0.001"], "argument --lr-d: must be positive"),
    (["gan", "--decay-to", "1.5"], "argument --decay-to: must be in [0, 1]"),
    (["gan", "--steps", "0"], ("argument --steps: must be", "positive")),
    (["gan", "--seed", "-3"], "argument --seed: must be an int in [0, 4294967295]"),
    (["gan", "--batch-size", "0"], ("argument --batch-size: must be", "positive")),
    (["gan", "--out", "no/such/folder/gan.png"], "--out 'no/such/folder/gan.png': the folder"),
    (["gan", "--out", "."], "--out '.' is a folder"),
    (["gan", "--output", "gan.png"], "unrecognized arguments: --output"),  # one name: --out
    (["gan", "--data", "mnist"], "argument --data: invalid choice"),
    (["gan", "--solver", "sgd"], "argument --solver: invalid choice"),
    (["gan", "--r1", "-1"], "argument --r1: must be non-negative"),
    (["gan", "--data", "ring", "--r1", "1"], "--r1: the R1 penalty is for --data digits"),
    (["gan", "--ema", "1"], "argument --ema: must be in [0, 1)"),
    (["gan", "--ema", "on"], "argument --ema: must be a number"),
    (["gan", "--first-step", "legacy"], "--first-step does not apply to --solver adam"),
    (["gan", "--solver", "cgd", "--b2", "0.9"], "--b2 does not apply to --solver cgd"),
    (["gan", "--solver", "acgd", "--lr-d", "0.1"], "--lr-d does not apply to --solver acgd"),
    (["gan", "--samples", "s.txt"], "--samples 's.txt': must be a .npy file"),
    (["gan", "--samples", "no/such/s.npy"], "--samples 'no/such/s.npy': the folder"),
    (["gan", "--samples", "."], "--samples '.' is a folder"),
    (["gan", "--checkpoint", "no/such/run.ckpt"], "--checkpoint 'no/such/run.ckpt': the folder"),
]


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if a command starts its runs."""

    def started(*args, **kwargs):
        raise AssertionError("the command started working before rejecting its options")

    monkeypatch.setattr(minimax.demos.compare, "compare", started)
    monkeypatch.setattr(minimax.demos.gan, "train", started)


@pytest.mark.parametrize("argv, message", BAD_OPTIONS, ids=[" ".join(a) for a, _ in BAD_OPTIONS])
def test_bad_options(argv, message, workdir, capsys, no_work):
    with pytest.raises(SystemExit) as exit:
        main(argv)
    err = capsys.readouterr().err
    assert exit.value.code == 2, err
    parts = (message,) if isinstance(message, str) else message
    assert all(part in err for part in parts) and "Traceback" not in err
    assert list(workdir.iterdir()) == []  # no figure, nothing else


@pytest.mark.parametrize("command", [[], ["gan"]])
def test_out_needs_matplotlib(command, workdir, capsys, no_matplotlib, no_work):
    """Asking for a figure without matplotlib is refused up front, with the install hint."""
    with pytest.raises(SystemExit) as exit:
        main([*command, "--out", "fig.png"])
    err = capsys.readouterr().err
    assert exit.value.code == 2
    assert "--out: writing a figure needs matplotlib: pip install 'minimax-jax[plots]'" in err
