"""The one error type the CLI turns into a one-line message and exit code 2."""


class EvalSetupError(RuntimeError):
    """Bad input or environment detected before (or instead of) doing any work; the message names the fix."""
