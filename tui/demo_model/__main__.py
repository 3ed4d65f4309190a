"""`python -m tui.demo_model [path | train ... | train-adapter ... | train-think-adapter ...]`: print the
demo model's path, or retrain it or one of its LoRA adapters."""

import sys

from tui import exit_codes
from tui.demo_model.build import ensure_demo_model


def main(argv: list[str]) -> int:
    if argv and argv[0] == "train":
        from tui.demo_model.train import main as train

        return train(argv[1:])
    if argv and argv[0] == "train-adapter":
        from tui.demo_model.adapter import main as train_adapter

        return train_adapter(argv[1:])
    if argv and argv[0] == "train-think-adapter":
        from tui.demo_model.think import main as train_think_adapter

        return train_think_adapter(argv[1:])
    if argv and argv[0] not in ("path",):
        print("usage: python -m tui.demo_model [path | train [--steps N] [--out DIR] | train-adapter [--steps N] "
              "[--out DIR] | train-think-adapter [--steps N] [--out DIR]]", file=sys.stderr)
        return exit_codes.USAGE
    print(ensure_demo_model())
    return exit_codes.OK


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
