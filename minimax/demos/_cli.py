"""What the demos' command lines share: option types and the figure's path, checked up front."""

import argparse
import os
from pathlib import Path

from ..checks import arg_type, check_int, check_scalar

PLOTS_HINT = "pip install 'minimax-jax[plots]' (or '.[plots]' from a checkout)"

# argparse `type=`s: a bad value is a usage error naming the option, before any work is done.
positive_int = arg_type(int, check_int, low=1)
positive_float = arg_type(float, check_scalar, low=0, low_open=True)
non_negative_float = arg_type(float, check_scalar, low=0)
fraction = arg_type(float, check_scalar, low=0, high=1)
open_fraction = arg_type(float, check_scalar, low=0, high=1, low_open=True, high_open=True)
decay_rate = arg_type(float, check_scalar, low=0, high=1, high_open=True)  # Adam's b1 and b2
seed = arg_type(int, check_int, low=0, high=2**32 - 1)


def add_out(parser: argparse._ActionsContainer, default: str, what: str) -> None:
    """Add the `--out` option (to a parser or an argument group): where to write the figure."""
    parser.add_argument(
        "--out",
        default=argparse.SUPPRESS,  # absent unless given: the default figure is optional
        metavar="PATH",
        help=f"where to write the figure of {what} (a .png, .pdf or .svg file; '' for none; "
        f"default {default})",
    )


def figure_path(
    parser: argparse.ArgumentParser, args: argparse.Namespace, default: str
) -> str | None:
    """The file to write the figure to (`args.out` or `default`), or None for none: checked
    before any work, so that a run never ends on an error about its figure. Without matplotlib,
    `--out PATH` is a usage error and the default figure is skipped with a note."""
    explicit = hasattr(args, "out")
    path = args.out if explicit else default
    if not path:
        return None
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        if explicit:
            parser.error(
                f"--out: writing a figure needs matplotlib: {PLOTS_HINT}; --out '' for no figure"
            )
        print(f"No figure: matplotlib is not installed; {PLOTS_HINT}.")
        return None
    target = Path(path).expanduser()
    if target.is_dir() or path.endswith(("/", os.sep)):
        parser.error(f"--out {path!r} is a folder; give a file name, e.g. {target / default}")
    formats = FigureCanvasBase.get_supported_filetypes()
    suffix = target.suffix.lower().removeprefix(".")
    if not suffix:  # as matplotlib does: a PNG, with its suffix added
        target, suffix = target.with_name(target.name + ".png"), "png"
    if suffix not in formats:
        parser.error(
            f"--out {path!r}: matplotlib cannot write .{suffix} files; use one of "
            f"{', '.join('.' + s for s in sorted(formats))}"
        )
    folder = target.parent
    if not folder.is_dir():
        parser.error(f"--out {path!r}: the folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        parser.error(f"--out {path!r}: cannot write there (permission denied)")
    return str(target)
