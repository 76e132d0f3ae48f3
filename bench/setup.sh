#!/usr/bin/env bash
# Installs what the full benchmark needs beyond the project's own environment:
#   - Fashion-MNIST, from the Debian package dataset-fashion-mnist (31 MB, MIT licence),
#     into /usr/share/datasets/fashion-mnist (the quality ablation);
#   - keras-hub, without its dependencies (they would pull the full tensorflow wheel beside
#     tensorflow-cpu): only its BertBackbone is built, offline (the scale benchmark).
# Usage: bash bench/setup.sh        (PYTHON=/path/to/python to pick the interpreter)
set -euo pipefail
PY="${PYTHON:-python}"
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get install -y dataset-fashion-mnist \
        || { $SUDO apt-get update && $SUDO apt-get install -y dataset-fashion-mnist; }
fi
if ! "$PY" -c "import keras_hub" 2>/dev/null; then
    "$PY" -m pip install --no-deps "keras-hub==0.32.*"
fi
echo "bench setup done: Fashion-MNIST in /usr/share/datasets/fashion-mnist, keras-hub importable"
