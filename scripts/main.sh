#!/usr/bin/env bash
# The main job: installs what it needs (scripts/ensure-env.sh), builds, then runs the end-to-end
# training demo on WebGPU (cpu when no adapter exists) and prints its loss falling.
# Arguments are passed to the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-env.sh
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
exec node packages/tensor-webgpu/examples/train-mlp.mjs "$@"
