#!/usr/bin/env bash
# Installs what AVATAR needs and is missing: system packages (espeak-ng, redis-server),
# a virtualenv in .venv, and the Python dependencies. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

need_apt=()
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
if ((${#need_apt[@]})); then
  echo "==> installing system packages: ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  if command -v apt-get >/dev/null 2>&1; then
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need_apt[@]}"
  else
    echo "!! please install: ${need_apt[*]} (no apt-get here)" >&2
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi

stamp="$VENV/.avatar-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "==> installing Python dependencies (first time: a few minutes)"
  "$VENV/bin/pip" install -q --upgrade pip
  # The CPU build of torch first: an unpinned torch would pull gigabytes of CUDA wheels.
  # Set TORCH_INDEX_URL (e.g. https://download.pytorch.org/whl/cpu) where no local wheel exists.
  if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
    if [ -n "${TORCH_INDEX_URL:-}" ]; then
      "$VENV/bin/pip" install -q torch==2.13.0 --index-url "$TORCH_INDEX_URL"
    else
      "$VENV/bin/pip" install -q torch==2.13.0
    fi
  fi
  "$VENV/bin/pip" install -q -e ".[dev]"
  touch "$stamp"
fi
echo "==> dependencies ready"
