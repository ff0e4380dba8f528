#!/usr/bin/env bash
# Containerized CI, offline: fill a wheelhouse on the host (pip download, torch pinned to the CPU
# build), build the `ci` and `runtime` images of ./Dockerfile with --network none, run the test
# suite inside the ci image, export the zoo SE/base pair with the ci image and bench it with the
# runtime image (no torch there), then report image sizes and build times.
#
# Usage: scripts/container-ci.sh [--install] [--full]
#   --install  no engine here: apt-get install podman buildah runc debootstrap (root only)
#   --full     the whole test suite in the ci image (default: -m "not slow")
# Environment: BASE (image with python3 >= 3.11 and venv; default python:3.11-slim from the
#   engine's own configured registries, else a Debian bookworm bootstrapped here), WHEELHOUSE
#   (default .wheelhouse), DEBIAN_MIRROR (default: the first Debian mirror in this machine's apt
#   sources), TORCH_INDEX (an extra pip index for the CPU torch build; default none: pip's own
#   configuration, `pip config list`, decides where wheels come from), TAG (image name, default
#   se-deploy), PYTHON (host python with pip); for another
#   BASE (the TensorRT variant, README "Containers"): PYTHON_TAG (its Python, default 3.11),
#   VENV_FLAGS (e.g. --system-site-packages), RUNTIME_EXTRAS (more runtime requirements).
# Exit status: 0 all passed; 1 an image build, the tests or the smoke run failed; 3 this machine
#   cannot do it (no usable engine, no base image) - the message says why.
set -euo pipefail
cd "$(dirname "$0")/.."

PY_TAG=${PYTHON_TAG:-3.11}  # python:3.11-slim's and Debian bookworm's; wheels are fetched for it
VENV_FLAGS=${VENV_FLAGS:-}
RUNTIME_EXTRAS=${RUNTIME_EXTRAS:-}
PUBLIC_BASE=python:3.11-slim  # unqualified: the engine's registries.conf / daemon config resolve it
LOCAL_BASE=localhost/se-deploy-base:bookworm
TAG=${TAG:-se-deploy}
WHEELHOUSE=${WHEELHOUSE:-$PWD/.wheelhouse}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-}
TORCH_INDEX=${TORCH_INDEX:-}
PYTHON=${PYTHON:-python3}
INSTALL=0
SUITE=(-m "not slow")
SUMMARY=()

say() { echo "container-ci: $*" >&2; }
cannot() { say "SKIPPED: $*"; exit 3; }
fail() { say "FAILED: $*"; exit 1; }

# Runs "$@" as the step named $1, records its seconds, and fails with one line if it fails.
step() {
  local name=$1 start=$SECONDS
  shift
  say "$name ..."
  "$@" || fail "$name (exit $?); its output is above"
  SUMMARY+=("$name: $((SECONDS - start)) s")
}

parse_args() {
  for arg in "$@"; do
    case $arg in
      --install) INSTALL=1 ;;
      --full) SUITE=() ;;
      *) say "unknown option '$arg'; usage: scripts/container-ci.sh [--install] [--full]"; exit 2 ;;
    esac
  done
}

# docker when its daemon answers, else podman with runc (crun fails on VMs like this one).
# podman's default ulimits exceed what runc may set here, so pass ones within this shell's hard
# limits. Builds use OCI isolation: chroot isolation works but refuses --network none.
pick_engine() {
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    ENGINE=docker BUILD_FLAGS=() RUN_FLAGS=()
  elif command -v podman >/dev/null && podman info >/dev/null 2>&1; then
    local ulimits
    ulimits=(--ulimit "nofile=$(capped "$(ulimit -Hn)" 65536)" \
             --ulimit "nproc=$(capped "$(ulimit -Hu)" 32768)")
    ENGINE=podman BUILD_FLAGS=("${ulimits[@]}") RUN_FLAGS=("${ulimits[@]}")
    if command -v runc >/dev/null; then ENGINE_GLOBAL=(--runtime runc); fi
  else
    return 1
  fi
}

# "N:N" for a hard limit (a number or "unlimited") capped at $2.
capped() {
  local n=$2
  if [ "$1" != unlimited ] && [ "$1" -lt "$2" ]; then n=$1; fi
  echo "$n:$n"
}

install_engine() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    cannot "no container engine answers (docker daemon or podman) and --install needs root with apt-get"
  fi
  say "installing podman buildah runc debootstrap from apt"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      podman buildah runc debootstrap >/dev/null; } \
    || cannot "apt-get install podman buildah runc debootstrap failed"
}

engine() { "$ENGINE" "${ENGINE_GLOBAL[@]}" "$@"; }

have_image() { engine image inspect "$1" >/dev/null 2>&1; }

# BASE as given, else the public slim image (pulled if a registry answers), else a bootstrapped
# Debian bookworm with python3 and venv (made once, then reused).
resolve_base() {
  if [ -n "${BASE:-}" ]; then
    have_image "$BASE" || timeout 120 "$ENGINE" pull -q "$BASE" >/dev/null 2>&1 \
      || cannot "BASE=$BASE is not here and cannot be pulled"
    return
  fi
  BASE=$PUBLIC_BASE
  have_image "$BASE" && return
  say "pulling $BASE"
  timeout 120 "$ENGINE" pull -q "$BASE" >/dev/null 2>&1 && return
  BASE=$LOCAL_BASE
  if have_image "$BASE"; then say "no registry answers; reusing $BASE"; return; fi
  [ -n "$DEBIAN_MIRROR" ] || DEBIAN_MIRROR=$(apt_mirror)
  [ -n "$DEBIAN_MIRROR" ] \
    || cannot "no base image: $PUBLIC_BASE cannot be pulled and no Debian mirror is configured in /etc/apt (set DEBIAN_MIRROR)"
  say "no registry answers; bootstrapping Debian bookworm from $DEBIAN_MIRROR as $BASE"
  [ "$(id -u)" = 0 ] || cannot "no base image: $PUBLIC_BASE cannot be pulled and debootstrap needs root"
  command -v debootstrap >/dev/null \
    || cannot "no base image: $PUBLIC_BASE cannot be pulled and debootstrap is missing (apt-get install debootstrap)"
  step "bootstrap base image" bootstrap_base
}

# The first Debian archive this machine's apt uses (one-line sources.list entries or deb822
# .sources files), so the bootstrap reads the mirror the machine is configured for. Only files
# that exist are read: grep exits 2 on a missing one, which pipefail would make fatal.
apt_mirror() {
  local file files=()
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    if [ -f "$file" ]; then files+=("$file"); fi
  done
  [ "${#files[@]}" -gt 0 ] || return 0
  { grep -hE '^deb ' "${files[@]}" | sed -E 's/^deb (\[[^]]*\] )?([^ ]+).*/\2/' || true
    grep -hE '^URIs:' "${files[@]}" | awk '{print $2}' || true
  } | { grep -v -i security || true; } | head -n 1
}

bootstrap_base() {
  local root
  root=$(mktemp -d /var/tmp/se-deploy-rootfs.XXXXXX)
  # shellcheck disable=SC2064  # expand now: the path is fixed
  trap "rm -rf '$root'" EXIT
  debootstrap --variant=minbase --include=python3,python3-venv bookworm "$root" "$DEBIAN_MIRROR" \
    >/dev/null || { say "debootstrap from $DEBIAN_MIRROR failed"; return 1; }
  # Nothing of this host in the image (its resolver and name), nor apt's caches and docs.
  rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/usr/share/man/* \
    "$root"/usr/share/info/* "$root"/usr/share/locale/* "$root"/etc/resolv.conf
  find "$root"/usr/share/doc -mindepth 2 ! -type d ! -name copyright -delete
  echo localhost >"$root"/etc/hostname
  tar -C "$root" --numeric-owner -c . | engine import -q --change 'CMD ["/bin/bash"]' - "$BASE" \
    >/dev/null || return 1
  rm -rf "$root"
  trap - EXIT
}

# Every wheel the images need, for the image's Python and platform: pyproject's dependencies and
# dev extras, setuptools to build the package, torch==2.13.0 as the CPU build, RUNTIME_EXTRAS.
fill_wheelhouse() {
  local requirements index=()
  requirements=$(mktemp)
  # shellcheck disable=SC2086  # RUNTIME_EXTRAS is a list of requirements
  "$PYTHON" - "$requirements" $RUNTIME_EXTRAS <<'EOF' || return 1
import sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
extras = project["optional-dependencies"]
lines = [*project["dependencies"], *extras["cpu"], *extras["dev"], "setuptools>=77"]
open(sys.argv[1], "w").write("\n".join([*lines, "torch==2.13.0", *sys.argv[2:]]) + "\n")
EOF
  if [ -n "$TORCH_INDEX" ]; then index=(--extra-index-url "$TORCH_INDEX"); fi
  mkdir -p "$WHEELHOUSE"
  local arch
  arch=$(uname -m)
  "$PYTHON" -m pip download -q --dest "$WHEELHOUSE" "${index[@]}" --only-binary=:all: \
    --python-version "$PY_TAG" --implementation cp --abi "cp${PY_TAG/./}" \
    --platform "manylinux_2_28_$arch" --platform "manylinux_2_17_$arch" \
    --platform "manylinux2014_$arch" -r "$requirements" \
    2> >(grep -v "is ignored: it is neither" >&2) || return 1
  rm -f "$requirements"
  compgen -G "$WHEELHOUSE/torch-2.13.0+cpu-*.whl" >/dev/null \
    || { say "no torch 2.13.0+cpu wheel in $WHEELHOUSE: the CPU build is not reachable through pip's configured indexes (pip config list; or set TORCH_INDEX)"; return 1; }
}

# An engine can answer and still be unable to start containers (nested, no cgroups): that is this
# machine's limit, not a failure of the images.
probe_engine() {
  engine run "${RUN_FLAGS[@]}" --rm --network none "$BASE" true >/dev/null 2>&1 \
    || cannot "$ENGINE cannot start a container from $BASE here ($ENGINE run ... true fails)"
}

build() {
  engine build "${BUILD_FLAGS[@]}" --network none --target "$1" --build-arg "BASE=$BASE" \
    --build-arg "VENV_FLAGS=$VENV_FLAGS" --build-arg "RUNTIME_EXTRAS=$RUNTIME_EXTRAS" \
    --build-context "wheels=$WHEELHOUSE" -t "$TAG:$1" -f Dockerfile .
}

run_tests() {
  engine run "${RUN_FLAGS[@]}" --rm --network none "$TAG:ci" python -m pytest -q -n auto "${SUITE[@]}"
}

# The zoo's trained SE-MobileNet and MobileNet, exported by the ci image into a host folder.
export_pair() {
  local model
  for model in se_mobilenet mobilenet; do
    engine run "${RUN_FLAGS[@]}" --rm --network none -v "$SMOKE:/smoke" "$TAG:ci" \
      se-deploy export --zoo --model "$model" --out /smoke/export || return 1
  done
}

bench_pair() {
  local dir=/artifacts
  engine run "${RUN_FLAGS[@]}" --rm --network none -e COLUMNS=160 -v "$SMOKE/export:$dir:ro" \
    "$TAG:runtime" bench --backend ort --out /tmp/bench \
    --pair "$dir/se_mobilenet/fp32/model.onnx,$dir/mobilenet/fp32/model.onnx"
}

no_torch_in_runtime() {
  ! engine run "${RUN_FLAGS[@]}" --rm --network none --entrypoint python "$TAG:runtime" \
    -c "import torch" 2>/dev/null || { say "the runtime image can import torch"; return 1; }
}

# The host's checkout and wheelhouse paths must not appear in any layer's history or config.
no_host_paths() {
  local image found
  for image in "$TAG:ci" "$TAG:runtime"; do
    found=$({ engine history --no-trunc "$image"; engine image inspect "$image"; } \
      | grep -F -e "$PWD" -e "$WHEELHOUSE" || true)
    [ -z "$found" ] || { say "$image records a host path: $found"; return 1; }
  done
}

report_sizes() {
  local image
  for image in "$TAG:ci" "$TAG:runtime" "$BASE"; do
    SUMMARY+=("$image: $(engine image inspect --format '{{.Size}}' "$image" \
      | awk '{printf "%.0f MB", $1 / 1e6}')")
  done
}

main() {
  parse_args "$@"
  ENGINE_GLOBAL=()
  if ! pick_engine; then
    [ "$INSTALL" = 1 ] || cannot "no container engine answers (docker daemon or podman); pass --install or apt-get install podman buildah runc"
    install_engine
    pick_engine || cannot "podman is installed but 'podman info' fails"
  fi
  say "engine: $ENGINE"
  resolve_base
  say "base image: $BASE"
  probe_engine
  step "fill wheelhouse" fill_wheelhouse
  step "build ci image" build ci
  step "build runtime image" build runtime
  step "check images for host paths" no_host_paths
  step "tests in ci image" run_tests
  SMOKE=$(mktemp -d /var/tmp/se-deploy-smoke.XXXXXX)
  chmod 0777 "$SMOKE"  # the images' user (uid 1000) writes the export here
  step "export zoo pair in ci image" export_pair
  step "no torch in runtime image" no_torch_in_runtime
  step "bench pair in runtime image" bench_pair
  rm -rf "$SMOKE"
  report_sizes
  say "passed"
  printf '  %s\n' "${SUMMARY[@]}" >&2
}

main "$@"
