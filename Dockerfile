# syntax=docker/dockerfile:1
# se-deploy images. BASE is any Debian-based image with Python 3.11 (default: python:3.11-slim;
# for TensorRT use an NVIDIA TensorRT image, see README "Containers").
ARG BASE=python:3.11-slim

# ---- ci: the package with torch (CPU build) and dev tools; runs the test suite at build time.
FROM ${BASE} AS ci
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN useradd --create-home --uid 1000 sedeploy
WORKDIR /home/sedeploy/se-deploy
COPY --chown=sedeploy:sedeploy . .
RUN python -m pip install --extra-index-url "${TORCH_INDEX}" "torch==2.13.0" -e ".[dev]"
USER sedeploy
RUN python -m pytest -q -m "not slow"
CMD ["se-deploy", "--help"]
