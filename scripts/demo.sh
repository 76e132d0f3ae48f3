#!/usr/bin/env bash
# The main job: sets up its own virtual environment, then runs `unfreeze demo --compare`.
#   bash scripts/demo.sh              # extra arguments go to `unfreeze demo`
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${UNFREEZE_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[keras,plot]"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
exec "$VENV/bin/unfreeze" demo --compare "$@"
