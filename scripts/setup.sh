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
# Headless Chromium for the report page's browser test (tests/test_report_page.py), only when
# missing: Debian's package, ~30 s with apt-get update. CHROMIUM=0 skips it (the test then skips).
if [ "${CHROMIUM:-1}" != 0 ] && ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing chromium for the browser test (apt-get)..." >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
      || echo "could not install chromium: the browser test will be skipped" >&2
  else
    echo "chromium missing (needs root and apt-get to install): the browser test will be skipped" >&2
  fi
fi
echo "setup done: .venv ready" >&2
