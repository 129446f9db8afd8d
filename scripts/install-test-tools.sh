#!/usr/bin/env bash
# System tools the tests drive, installed with apt-get when missing (`make test` runs this):
# - Debian's Chromium at /usr/bin/chromium for the browser tests (playwright-core drives it;
#   npm never downloads a browser);
# - a Traditional Chinese font, or the page renders as empty boxes in the saved screenshots;
# - a Compose CLI (`docker compose` or `docker-compose`), which validates the deployment
#   profiles without a Docker engine.
set -euo pipefail
packages=()
[ -x /usr/bin/chromium ] || packages+=(chromium)
if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list :lang=zh-tw 2>/dev/null)" ]; then
  packages+=(fonts-noto-cjk)
fi
if ! { command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; } \
   && ! command -v docker-compose >/dev/null 2>&1; then
  packages+=(docker-compose)
fi
if [ ${#packages[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
if command -v apt-get >/dev/null 2>&1; then
  echo "==> installing ${packages[*]} (for the tests)"
  $SUDO apt-get update -qq
  for package in "${packages[@]}"; do
    # docker-compose only: its recommended docker.io would bring a whole engine along.
    extra=(); [ "$package" = docker-compose ] && extra=(--no-install-recommends)
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${extra[@]}" "$package" >/dev/null
  done
else
  echo "!! please install ${packages[*]}: the tests that need them are skipped, each saying why" >&2
fi
