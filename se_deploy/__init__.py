"""se-deploy: export, quantize, compile and benchmark Squeeze-and-Excitation networks."""

__version__ = "0.1.0"
