#!/usr/bin/env bash
# Prepares this checkout for the README's commands (npm test, npm run bench, the demo). Idempotent
# and quiet: prints only what it changes, warnings and errors.
#  1. npm dependencies: `npm ci` when node_modules is missing, `npm install` when a package.json
#     or the lockfile changed since the last run (a hash stamp in node_modules/).
#  2. WebGPU: when Node finds no adapter and this is Debian with apt-get, installs Mesa lavapipe
#     via scripts/setup-vulkan.sh (root or sudo). With no adapter the cpu backend still works, so
#     this only warns; set MOEGRAPH_REQUIRE_WEBGPU=1 to make it an error.
#  3. Builds the packages (turbo; cached, so a no-op when nothing changed).
# MOEGRAPH_SKIP_ENSURE=1 skips all of it; ENSURE_ENV_VERBOSE=1 shows each step.
set -euo pipefail
[ "${MOEGRAPH_SKIP_ENSURE:-}" = 1 ] && exit 0
cd "$(dirname "$0")/.."

say() { echo "ensure-env: $*" >&2; }
log() { if [ -n "${ENSURE_ENV_VERBOSE:-}" ]; then say "$@"; fi; }
tmplog=$(mktemp)
trap 'rm -f "$tmplog"' EXIT
# Run a command with its output hidden unless it fails.
quietly() {
  if ! "$@" >"$tmplog" 2>&1; then
    say "FAILED: $*"
    tail -n 60 "$tmplog" >&2
    return 1
  fi
}
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"

# ---- 1. dependencies
stamp=node_modules/.moegraph-env-stamp
pkg_hash() {
  local f files=()
  shopt -s nullglob
  for f in package-lock.json package.json packages/*/package.json apps/*/package.json test/package.json; do
    [ -f "$f" ] && files+=("$f")
  done
  shopt -u nullglob
  cat "${files[@]}" | sha256sum | cut -d' ' -f1
}
want_stamp=$(pkg_hash)
npm_flags=(--no-audit --no-fund --loglevel=error)
if [ ! -d node_modules ]; then
  if [ -f package-lock.json ]; then
    say "installing dependencies (npm ci)"
    # npm ci rejects a lockfile lacking other platforms' optional packages (written where the
    # registry does not serve them all); npm install keeps the locked versions.
    quietly npm ci "${npm_flags[@]}" || quietly npm install "${npm_flags[@]}"
  else
    say "installing dependencies (npm install)"
    quietly npm install "${npm_flags[@]}"
  fi
  echo "$want_stamp" >"$stamp"
elif [ "$(cat "$stamp" 2>/dev/null)" != "$want_stamp" ]; then
  log "package files changed since the last install: npm install"
  quietly npm install "${npm_flags[@]}"
  # Hash again: npm install may have updated the lockfile.
  pkg_hash >"$stamp"
else
  log "dependencies up to date"
fi

# ---- 2. WebGPU adapter
if node scripts/check-webgpu.mjs --quiet >/dev/null 2>&1; then
  log "WebGPU adapter found"
else
  if [ -f /etc/debian_version ] && command -v apt-get >/dev/null && { [ "$(id -u)" = 0 ] || command -v sudo >/dev/null; }; then
    say "no WebGPU adapter: installing Mesa lavapipe (scripts/setup-vulkan.sh)"
    quietly bash scripts/setup-vulkan.sh || true
  fi
  if ! node scripts/check-webgpu.mjs --quiet 2>/dev/null; then
    if [ "${MOEGRAPH_REQUIRE_WEBGPU:-}" = 1 ]; then
      say "ERROR: no WebGPU adapter and MOEGRAPH_REQUIRE_WEBGPU=1"
      exit 1
    fi
    say "WARNING: no WebGPU adapter; WebGPU tests and benchmarks will be skipped (cpu backend only)"
  fi
fi

# ---- 3. build
log "building packages"
quietly npx --no-install turbo run build --output-logs=errors-only
log "ready"
