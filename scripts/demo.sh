#!/usr/bin/env bash
# The main job: sets up its own virtual environment, then runs `unfreeze demo --compare`.
#   bash scripts/demo.sh              # extra arguments go to `unfreeze demo`
# The environment is (re)installed only when it is new or pyproject.toml has changed since
# the last install, so that a second run starts the demo at once.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${UNFREEZE_VENV:-.venv}"
STAMP="$VENV/.demo-installed"
if [ ! -x "$VENV/bin/python" ]; then
  echo "scripts/demo.sh: creating the virtual environment $VENV"
  python3 -m venv "$VENV"
fi
WANT="$(cksum < pyproject.toml)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ] \
   || ! "$VENV/bin/python" -c "import importlib.util as u, sys
sys.exit(any(u.find_spec(m) is None for m in ('unfreeze_core', 'keras', 'matplotlib')))"; then
  echo "scripts/demo.sh: installing unfreeze-core with its keras and plot extras into $VENV"
  echo "  (the first time, this downloads TensorFlow, several hundred MB: a few minutes)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -e ".[keras,plot]"
  echo "$WANT" > "$STAMP"
fi
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
exec "$VENV/bin/unfreeze" demo --compare "$@"
