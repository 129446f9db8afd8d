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
# FFmpeg's shared libraries: torchaudio/torchcodec in the f5 and cosyvoice engine environments.
command -v ffmpeg >/dev/null 2>&1 || need_apt+=(ffmpeg)
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

# The web page (React + Vite in web/): npm ci from the committed lock file, then a build
# whenever a source is newer than web/dist. Needs Node.js >= 20.19 with npm.
if [ -f web/package.json ]; then
  if ! command -v npm >/dev/null 2>&1 || ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' 2>/dev/null; then
    echo "!! Node.js >= 20.19 with npm not found: the chat page is not built (/ shows how to build it)" >&2
  else
    if [ ! -f web/node_modules/.package-lock.json ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
      echo "==> installing the web page's packages (npm ci)"
      (cd web && npm ci --no-audit --no-fund --loglevel=error)
    fi
    if [ ! -f web/dist/index.html ] || [ -n "$(find web/src web/public web/index.html web/vite.config.ts web/package-lock.json -newer web/dist/index.html 2>/dev/null | head -1)" ]; then
      echo "==> building the web page (web/dist)"
      (cd web && npm run --silent build)
    fi
  fi
fi
echo "==> dependencies ready"
