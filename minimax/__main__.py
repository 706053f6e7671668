"""`python -m minimax [compare] ...`: fixed vs legacy first step; `python -m minimax gan ...`."""

import importlib
import sys

COMMANDS = {"compare": ".demos.compare", "gan": ".demos.gan"}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
        # `compare` takes no positional arguments: a bare first word is a mistyped command.
        sys.stderr.write(
            f"usage: python -m minimax [{' | '.join(COMMANDS)}] [options]\n"
            f"python -m minimax: error: unknown command {argv[0]!r} (choose from "
            f"{', '.join(map(repr, COMMANDS))}; --help for the options)\n"
        )
        sys.exit(2)
    command = argv[0] if argv and argv[0] in COMMANDS else "compare"
    rest = argv[1:] if argv[:1] == [command] else argv
    importlib.import_module(COMMANDS[command], __package__).main(rest)


if __name__ == "__main__":
    main()
