"""What the command lines share: the one-line usage error (exit code 2) and the argument types.

Each CLI (`build_expcot`, `anomseer-eval`, `anomseer-detect`, the demo) parses with :class:`OneLineParser`, whose
errors raise :class:`UsageError` instead of printing argparse's usage block; the CLI prints the message as one
line and exits with code 2, before anything is written.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


class UsageError(Exception):
    """A bad command line: reported as one line, exit code 2."""


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors raise :class:`UsageError` (one line) instead of exiting."""

    def error(self, message: str):
        raise UsageError(message)


def positive(kind: Callable[[str], float | int]) -> Callable[[str], float | int]:
    """An argument type: ``kind(text)``, finite and > 0."""

    def parse(text: str):
        value = kind(text)
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


def non_negative_float(text: str) -> float:
    """An argument type: a finite float >= 0."""
    value = float(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value
