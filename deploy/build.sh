#!/usr/bin/env bash
# Builds every image docker-compose.yml needs: the sandbox images, then Runyard's own services.
# The Python wheels are built on this host (its pip configuration reaches PyPI, proxies included)
# and copied into the image, so the build needs no PyPI access from inside Docker.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash sandbox_images/build.sh
pip_bin="${PIP:-$root/.venv/bin/pip}"
[ -x "$pip_bin" ] || pip_bin="$(command -v pip3 || command -v pip)"
rm -f deploy/wheels/*.whl
"$pip_bin" wheel --quiet --wheel-dir deploy/wheels .
COMPOSE="${COMPOSE:-docker-compose}"
$COMPOSE build "$@"
