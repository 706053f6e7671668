"""`python -m minimax` and `python -m minimax gan`, run in-process on short settings."""

import pytest

from minimax.__main__ import main


def test_compare(tmp_path, capsys):
    out = tmp_path / "compare.png"
    main(["--steps", "60", "--dim", "2", "--out", str(out)])
    printed = capsys.readouterr().out
    assert "| bilinear | first_step |" in printed and "| quadratic | overshoot |" in printed
    # The fixed rule's first step is alpha / (alpha + beta) = 1/2 of the legacy one.
    assert "| 0.500 |" in printed.split("| bilinear | first_step |")[1].splitlines()[0]
    assert out.stat().st_size > 10_000


def test_gan(tmp_path, capsys):
    out = tmp_path / "gan.png"
    main(["gan", "--steps", "40", "--width", "8", "--no-progress", "--output", str(out)])
    printed = capsys.readouterr().out
    assert "modes covered:" in printed and out.stat().st_size > 10_000


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--alpha", "0"], "`alpha` must be positive"),
        (["--steps", "0"], "--steps must be positive"),
        (["gan", "--batch-size", "0"], "must be a positive integer"),
    ],
)
def test_bad_options(argv, message, capsys):
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2 and message in capsys.readouterr().err
