#!/usr/bin/env bash
# The test suite: unit tests plus end-to-end campaigns through a real Docker engine, real
# NVFlare simulator runs and the real data in ../shared/data. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
VENV=${AFR_VENV:-.venv}
"$VENV/bin/afr-box" image build
# Two pytest workers by default (AFR_TEST_WORKERS; 0 = one process): an end-to-end test spends
# most of its time waiting on containers and NVFlare round trips, so two test files overlap well
# even on two cores. Each file stays on one worker (--dist loadfile): module fixtures are shared;
# files go out longest first (tests/conftest.py LONGEST_FIRST), not by their number of tests.
WORKERS=${AFR_TEST_WORKERS:-2}
if [ "$WORKERS" -gt 0 ]; then
  "$VENV/bin/pytest" -q -p no:cacheprovider --durations=30 -n "$WORKERS" --dist loadfile --no-loadscope-reorder tests "$@"
else
  "$VENV/bin/pytest" -q -p no:cacheprovider --durations=30 tests "$@"
fi
