"""`python -m tui.demo_model [build]`: build the demo model and print its path."""

import sys

from tui.demo_model.build import ensure_demo_model


def main(argv: list[str]) -> int:
    if argv and argv[0] not in ("build",):
        print("usage: python -m tui.demo_model [build]", file=sys.stderr)
        return 2
    print(ensure_demo_model())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
