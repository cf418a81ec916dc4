#!/usr/bin/env bash
# The main job: installs what it needs (scripts/ensure-env.sh), builds, then runs the quick
# benchmark profile: GMoE, GraphMoE and MixLoRA fine-tuned on stories260K over 3 seeds on
# ARC-Challenge and BoolQ (subsampled; about 3.5 minutes on 2 cores), printing the accuracy/stability
# table and writing Markdown + HTML reports under bench-results/table-quick/.
# Arguments are passed to the benchmark CLI (e.g. --backend webgpu, --seeds 5, --tasks all).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-env.sh
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
exec node apps/bench/dist/cli.js table --profile quick "$@"
