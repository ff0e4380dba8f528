# syntax=docker/dockerfile:1.4
# se-deploy images, built offline: every pip install reads only the wheelhouse that
# scripts/container-ci.sh fills on the host and passes as `--build-context wheels=DIR` (mounted
# for the install, never copied into a layer).
#   ci       the package with torch (CPU) and the dev extras; its command runs the test suite
#   runtime  onnxruntime and the package's runtime parts, no torch (nor matplotlib: bench writes
#            no plots there): `se-deploy bench --backend ort` on exported ONNX, non-root user
# BASE: any Debian/Ubuntu image with python3 (>= 3.11) and its venv module. Default
# python:3.11-slim; the script bootstraps Debian bookworm with debootstrap when no registry
# answers; GPU users pass an NVIDIA TensorRT image (README, "Containers").
ARG BASE=python:3.11-slim

# ---- python: one venv (isolated from the base's own Python) and one non-root user for all stages.
FROM ${BASE} AS python
ENV PATH=/opt/venv/bin:$PATH \
    LANG=C.UTF-8 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
ARG VENV_FLAGS=""
RUN python3 -m venv ${VENV_FLAGS} /opt/venv && useradd --create-home --uid 1000 sedeploy

# ---- wheel: the package built from source, for the runtime stage (which has no source tree).
FROM python AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY se_deploy se_deploy
RUN --mount=type=bind,from=wheels,target=/wheels \
    pip wheel --no-index --find-links /wheels --no-deps --wheel-dir /dist .

# ---- ci: source tree, torch CPU build, dev extras; `podman run IMAGE` runs the fast suite.
FROM python AS ci
WORKDIR /home/sedeploy/se-deploy
COPY --chown=sedeploy:sedeploy . .
RUN --mount=type=bind,from=wheels,target=/wheels \
    pip install --no-index --find-links /wheels "torch==2.13.0" -e ".[cpu,dev]"
USER sedeploy
CMD ["python", "-m", "pytest", "-q", "-m", "not slow"]

# ---- runtime-venv: requirements-runtime.txt (pyproject's dependencies and its `cpu` extra minus
# torch, onnxsim, safetensors and matplotlib), then the package itself with --no-deps so pip does not pull torch
# back in; pip and setuptools leave, as nothing installs into the runtime image later.
FROM python AS runtime-venv
ARG RUNTIME_EXTRAS=""
COPY --from=wheel /dist /dist
COPY requirements-runtime.txt /tmp/
RUN --mount=type=bind,from=wheels,target=/wheels \
    pip install --no-index --find-links /wheels -r /tmp/requirements-runtime.txt ${RUNTIME_EXTRAS} \
    && pip install --no-index --no-deps /dist/*.whl \
    && pip uninstall -q -y setuptools pip

# ---- runtime: the base, the user and that venv in one layer; runs as the non-root user.
FROM ${BASE} AS runtime
ENV PATH=/opt/venv/bin:$PATH LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1
RUN useradd --create-home --uid 1000 sedeploy
COPY --from=runtime-venv /opt/venv /opt/venv
USER sedeploy
WORKDIR /home/sedeploy
ENTRYPOINT ["se-deploy"]
CMD ["--help"]
