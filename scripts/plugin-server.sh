#!/bin/sh
# The plugin's MCP server command (.mcp.json): starts from nothing, then reuses what it made.
#   1. a developer checkout after `make setup`: .venv/bin/crossmodel-matcher, as is;
#   2. else with uv: `uv run` in an environment of its own (created on first start, then synced);
#   3. else with Python 3.11+ only: a venv made with `python3 -m venv` and `pip install`.
# The environment holds no torch (an optional extra; the server never imports it).
# Everything this prints goes to stderr: stdout carries the MCP protocol.
# Environment: CROSSMODEL_MATCHER_ENV (where the environment lives; default: $CLAUDE_PLUGIN_DATA
# if set, else the plugin folder, + /.venv-plugin), PYTHON (interpreter for case 3).
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
ENV_DIR=${CROSSMODEL_MATCHER_ENV:-${CLAUDE_PLUGIN_DATA:-$ROOT}/.venv-plugin}
[ $# -gt 0 ] || set -- serve

if [ -x "$ROOT/.venv/bin/crossmodel-matcher" ] && [ -z "${CROSSMODEL_MATCHER_ENV:-}" ]; then
  exec "$ROOT/.venv/bin/crossmodel-matcher" "$@"
fi

if command -v uv >/dev/null 2>&1; then
  UV_PROJECT_ENVIRONMENT=$ENV_DIR
  export UV_PROJECT_ENVIRONMENT
  [ -d "$ENV_DIR" ] || echo "crossmodel-matcher: first start: creating $ENV_DIR with uv (about a minute)" >&2
  exec uv run --quiet --no-dev --project "$ROOT" crossmodel-matcher "$@"
fi

PY=${PYTHON:-python3}
if ! command -v "$PY" >/dev/null 2>&1; then
  echo "crossmodel-matcher: needs uv or Python 3.11+ on PATH (https://docs.astral.sh/uv/)" >&2
  exit 1
fi
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "crossmodel-matcher: $PY is $("$PY" -V 2>&1); it needs Python 3.11+ (or install uv)" >&2
  exit 1
fi
READY="$ENV_DIR/.installed"
if [ ! -f "$READY" ] || [ "$ROOT/pyproject.toml" -nt "$READY" ]; then
  echo "crossmodel-matcher: first start: installing into $ENV_DIR with pip (a few minutes)" >&2
  [ -x "$ENV_DIR/bin/python" ] || "$PY" -m venv "$ENV_DIR" >&2
  "$ENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check "$ROOT" >&2
  touch "$READY"  # only after a complete install: an interrupted one is redone next start
fi
exec "$ENV_DIR/bin/crossmodel-matcher" "$@"
