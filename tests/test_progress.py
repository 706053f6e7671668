"""`minimax._progress.ProgressBar`: tqdm when installed, a plain line otherwise."""

import sys

import pytest

from minimax import _progress
from minimax._progress import ProgressBar


@pytest.fixture
def clock(monkeypatch):
    """A clock the test moves by hand: `clock.t = ...`."""

    class Clock:
        t = 0.0

    monkeypatch.setattr(_progress, "_now", lambda: Clock.t)
    return Clock


@pytest.fixture
def no_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)


def test_plain_line(no_tqdm, clock, capsys):
    with ProgressBar(10_000, desc="solve") as bar:
        assert bar._tqdm is None
        clock.t = 0.05
        bar.update_to(1000)  # within 0.1 s of the last redraw: not drawn
        bar.update_to(500)  # late reports never move it back
        assert bar.n == 1000
        clock.t = 2.1
        bar.update_to(4500, loss=0.123456, modes=8)
        clock.t = 2.15
        bar.update_to(9000)  # throttled
        bar.update_to(10_000)  # the final position is always drawn
        bar.update_to(12_000)  # clipped to the total
        assert bar.n == 10_000
    bar.close()  # a second close does nothing
    bar.update_to(5)  # neither does a late report
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.split("\r")
    assert lines[0] == "" and captured.err.endswith("\n") and captured.err.count("\n") == 1
    assert [line.rstrip() for line in lines[1:]] == [
        "solve: 0% 0/10000 steps [0.0 s]",
        "solve: 45% 4500/10000 steps [2.1 s] loss=0.123 modes=8",
        "solve: 100% 10000/10000 steps [2.1 s] loss=0.123 modes=8",
    ]


def test_plain_line_blanks_a_longer_one(no_tqdm, clock, capsys):
    bar = ProgressBar(3, desc="x")
    bar.update_to(3, note="a long postfix")
    bar._postfix = ""
    bar.close()
    err = capsys.readouterr().err
    last = err.split("\r")[-1]
    assert last.rstrip() == "x: 100% 3/3 steps [0.0 s]" and len(last) > len(last.rstrip()) + 1


def test_tqdm(capsys):
    pytest.importorskip("tqdm")
    with ProgressBar(10, desc="training") as bar:
        assert bar._tqdm is not None
        bar.update_to(4)
        bar.update_to(2)
        assert bar.n == bar._tqdm.n == 4
        bar.update_to(10, gap=0.5)
        assert bar._tqdm.n == 10
    bar.close()
    err = capsys.readouterr().err
    assert "training" in err and "10/10" in err and "gap=0.5" in err


@pytest.mark.parametrize("tqdm", [True, False])
def test_disabled(tqdm, capsys, monkeypatch):
    if not tqdm:
        monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    with ProgressBar(5, disable=True) as bar:
        bar.update_to(5, loss=1.0)
    assert bar.n == 5 and capsys.readouterr() == ("", "")


def test_total_checked():
    with pytest.raises(ValueError, match="`total` must be"):
        ProgressBar(-1)
    with pytest.raises(TypeError):
        ProgressBar(2.5)
