#!/usr/bin/env bash
# Create .venv and install the project with its test tools; idempotent, takes minutes.
# torch: on machines with a local CPU wheel (pip find-links) `torch==2.13.0` resolves to it;
# elsewhere pip takes PyPI's build. Override with TORCH_SPEC, e.g. TORCH_SPEC="torch>=2.2".
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/python -m pip install --quiet "${TORCH_SPEC:-torch==2.13.0}"
fi
.venv/bin/python -m pip install --quiet -e ".[dev]"
if [ -f package-lock.json ] && command -v npm >/dev/null; then
  npm ci --silent --no-audit --no-fund >/dev/null
fi
echo "setup done: .venv ready" >&2
