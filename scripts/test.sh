#!/usr/bin/env bash
# The test suite: unit tests plus end-to-end campaigns through a real Docker engine, real
# NVFlare simulator runs and the real data in ../shared/data. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
VENV=${AFR_VENV:-.venv}
"$VENV/bin/afr-box" image build
"$VENV/bin/pytest" -q -p no:cacheprovider tests "$@"
