#!/usr/bin/env bash
# The whole test suite: every workspace's vitest (turbo, one package at a time) including the
# Deno and Bun smoke tests in test/. Installs what it needs first (scripts/ensure-env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-env.sh
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
npm run typecheck
exec npm test
