#!/bin/sh
# The bucket and the seed's retention: raw user audio 30 days, synthesised audio 7 days
# (prefixes from avatar/storage/keys.py). Idempotent: safe on every start.
set -eu
mc alias set local http://minio:9000 "$MINIO_USER" "$MINIO_PASSWORD"
mc mb --ignore-existing local/avatar-audio
mc ilm rule ls local/avatar-audio 2>/dev/null | grep -q raw_inputs/ \
  || mc ilm rule add --prefix raw_inputs/ --expire-days 30 local/avatar-audio
mc ilm rule ls local/avatar-audio 2>/dev/null | grep -q synthesized/ \
  || mc ilm rule add --prefix synthesized/ --expire-days 7 local/avatar-audio
mc ilm rule ls local/avatar-audio
