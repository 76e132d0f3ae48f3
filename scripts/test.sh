#!/usr/bin/env bash
# The test command: sets up its own virtual environment, then lints, type-checks and tests.
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh -k plateau # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${UNFREEZE_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[keras,plot,test]"
# keras_hub for the BertBackbone test: without its dependencies, which would pull the
# full `tensorflow` wheel and tensorflow-text beside tensorflow-cpu.
"$VENV/bin/python" -m pip install -q --no-deps "keras-hub==0.32.*" regex tokenizers sentencepiece
echo "== ruff"
"$VENV/bin/ruff" check .
echo "== mypy"
"$VENV/bin/mypy"
echo "== pytest"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
"$VENV/bin/python" -m pytest unfreeze_core tests "$@"
