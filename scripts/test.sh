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
# The other Keras 3 backends, for tests/backends. PyTorch only as its CPU wheel (the
# index's default build is several GB of CUDA); machines of this project keep it in
# /opt/wheels. Where it is missing, the torch backend is not required (said below).
"$VENV/bin/python" -m pip install -q -e ".[jax]"
REQUIRED_BACKENDS="tensorflow,jax"
if "$VENV/bin/python" -m pip install -q --find-links /opt/wheels "torch==2.13.0+cpu"; then
  REQUIRED_BACKENDS="tensorflow,jax,torch"
else
  echo "!! torch 2.13.0+cpu is not installable here: the PyTorch backend tests will be skipped"
fi
export UNFREEZE_REQUIRE_BACKENDS="${UNFREEZE_REQUIRE_BACKENDS:-$REQUIRED_BACKENDS}"
echo "== ruff"
"$VENV/bin/ruff" check .
echo "== mypy"
"$VENV/bin/mypy"
echo "== pytest"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
"$VENV/bin/python" -m pytest unfreeze_core tests "$@"
