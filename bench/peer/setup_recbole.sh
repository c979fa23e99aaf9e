#!/usr/bin/env bash
# Create RecBole's own venv (the benchmark peer). Never touches the project's venv.
#
#   PEER_VENV   where to create it (default: $HOME/.cache/agentrec/peer-venv-recbole)
#   PYTHON      interpreter used to create it (default: python3)
#
# Idempotent: if the venv exists and `import recbole, torch, ray` works with the
# pinned versions, it does nothing.
#
# Pins (see /work/shared/ANCHORS.md, "The peer, measured here"): without them
# RecBole 1.2.1 fails on numpy 2 (np.bool8), pandas >= 2.2 / 3, a missing
# pkg_resources (recbole pins ray<=2.6.3, which imports pkg_resources at import
# time) and torch's weights_only load (run with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1).
#
# setuptools: ANCHORS.md says "setuptools<70", but torch 2.13.0 declares
# setuptools>=77.0.3, so pip refuses that combination (ResolutionImpossible).
# setuptools 77..80 satisfies torch AND still ships pkg_resources (removed in 81+),
# so we pin "setuptools>=77.0.3,<81" (resolves to 80.10.2 here); `pip check` is clean.
set -euo pipefail

PEER_VENV="${PEER_VENV:-$HOME/.cache/agentrec/peer-venv-recbole}"
PYTHON="${PYTHON:-python3}"
RECBOLE_VERSION="${RECBOLE_VERSION:-1.2.1}"

check() {
    [ -x "$PEER_VENV/bin/python" ] || return 1
    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 "$PEER_VENV/bin/python" - "$RECBOLE_VERSION" <<'EOF' >/dev/null 2>&1
import sys
import numpy, pandas, torch, recbole
import recbole.quick_start  # pulls ray, pkg_resources, ...
assert recbole.__version__ == sys.argv[1], recbole.__version__
assert int(numpy.__version__.split(".")[0]) < 2, numpy.__version__
EOF
}

if check; then
    echo "recbole peer venv ready: $PEER_VENV"
    exit 0
fi

echo "creating recbole peer venv at $PEER_VENV"
mkdir -p "$(dirname "$PEER_VENV")"
"$PYTHON" -m venv "$PEER_VENV"
SETUPTOOLS_PIN="setuptools>=77.0.3,<81"
"$PEER_VENV/bin/python" -m pip install --quiet --upgrade pip "$SETUPTOOLS_PIN" wheel
# torch first and alone: torch==2.13.0 resolves to the CPU wheel on this
# machine's disk (2.13.0+cpu). Never ask for an unpinned torch (PyPI would pull
# a multi-GB CUDA build).
"$PEER_VENV/bin/python" -m pip install torch==2.13.0 "$SETUPTOOLS_PIN"
"$PEER_VENV/bin/python" -m pip install \
    torch==2.13.0 \
    "recbole==$RECBOLE_VERSION" \
    "numpy<2" "pandas<2.2" "scipy<1.14" "$SETUPTOOLS_PIN"
"$PEER_VENV/bin/python" -m pip check

if check; then
    echo "recbole peer venv ready: $PEER_VENV"
    "$PEER_VENV/bin/python" -m pip freeze | grep -i -E '^(recbole|torch|numpy|pandas|scipy|ray|setuptools)=' || true
else
    echo "recbole peer venv created but the import check failed; run:" >&2
    echo "  TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 $PEER_VENV/bin/python -c 'import recbole.quick_start'" >&2
    exit 1
fi
