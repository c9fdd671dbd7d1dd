#!/usr/bin/env bash
# The main job: set up, build the images, generate the synthetic task's data and run a real
# campaign on it (baseline + HPO candidates, each in its own image and hardened containers).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
VENV=${AFR_VENV:-.venv}
"$VENV/bin/afr-box" image build
"$VENV/bin/afr-box" data prepare synthetic
"$VENV/bin/afr-box" campaign synthetic --proposer hpo --max-candidates "${AFR_DEMO_CANDIDATES:-6}" \
  --name "demo-synthetic-$(date -u +%Y%m%d-%H%M%S)"
