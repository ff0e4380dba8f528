"""User-facing errors: the CLI prints their message on one line and exits 2.

A message names the bad input and the fix. Anything else that escapes is a bug and keeps its
traceback.
"""


class SeDeployError(Exception):
    """A problem with what the user asked for, reported without a traceback."""


class BackendUnavailableError(SeDeployError):
    """A backend (TensorRT, CUDA, OpenVINO) cannot run on this machine; the message says why."""


class VerificationError(SeDeployError):
    """An artifact failed a numeric check (parity, SE count); the message carries the figures."""


def exception_line(exc: BaseException, limit: int = 300) -> str:
    """'TypeName: message' on one line: how a failure in the user's own code (their module,
    factory or forward) is named inside a SeDeployError."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
