#!/usr/bin/env bash
# Installs the pinned BullMQ (package-lock.json) for bench.mjs; needs Node 18+ and npm.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --ignore-scripts
