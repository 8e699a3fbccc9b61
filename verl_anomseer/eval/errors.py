"""The harness's two error types; the CLI turns each into a one-line message."""


class EvalSetupError(RuntimeError):
    """Bad input or environment detected before (or instead of) doing any work; the message names the fix.

    CLI exit code 2."""


class BackendError(RuntimeError):
    """A backend failed mid-run (e.g. an endpoint kept failing after its retries). Predictions already written
    are kept, so rerunning the same command resumes. CLI exit code 1."""
