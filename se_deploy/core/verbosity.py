"""One verbosity for a whole command (`-v`, `-vv`, `-q`), mapped onto each library's own log
level, so `-v` reaches ONNX Runtime, TensorRT and the ORT quantizer, and `-q` silences them and
the progress lines alike."""

from __future__ import annotations

import enum
import logging

# ORT severities: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal.
_ORT = {-1: 4, 0: 3, 1: 1, 2: 0}
_PYTHON = {-1: logging.CRITICAL, 0: logging.ERROR, 1: logging.INFO, 2: logging.DEBUG}
_TRT = {-1: "ERROR", 0: "WARNING", 1: "INFO", 2: "VERBOSE"}


class Verbosity(enum.IntEnum):
    QUIET = -1
    NORMAL = 0
    VERBOSE = 1
    DEBUG = 2


_current = Verbosity.NORMAL


def set_verbosity(level: int) -> Verbosity:
    """Set the command's verbosity (clamped to QUIET..DEBUG) and ORT's default logger."""
    global _current
    _current = Verbosity(max(Verbosity.QUIET, min(Verbosity.DEBUG, level)))
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    return _current


def verbosity() -> Verbosity:
    return _current


def ort_severity() -> int:
    """For SessionOptions.log_severity_level and onnxruntime.set_default_logger_severity."""
    return _ORT[_current]


def python_log_level() -> int:
    """For the ORT quantizer, which logs through Python's root logger."""
    return _PYTHON[_current]


def trt_severity(trt) -> object:
    """The `trt.Logger.Severity` member for this verbosity (tensorrt passed in: core never
    imports it)."""
    return getattr(trt.Logger, _TRT[_current])
