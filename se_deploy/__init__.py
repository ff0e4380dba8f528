"""se-deploy: export, quantize, compile and benchmark Squeeze-and-Excitation networks."""

import importlib.metadata

try:  # pyproject.toml is the one place the version is written; this reads what pip installed
    __version__ = importlib.metadata.version("se-deploy")
except importlib.metadata.PackageNotFoundError:  # a source tree on sys.path, never installed
    __version__ = "0+unknown"
