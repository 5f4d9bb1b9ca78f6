#!/bin/sh
# The plugin's MCP server command (.mcp.json): starts from nothing, then reuses what it made.
#   1. a developer checkout after `make setup`: .venv/bin/crossmodel-matcher, as is;
#   2. else an environment of its own, made on first start (and again when pyproject.toml
#      changes) with `uv sync` where uv is on PATH, else with Python 3.11+ (`venv` + `pip`);
#      later starts run its console script directly (no resolver in the way; bytecode is
#      compiled at install, so no start pays for it).
# The environment holds no torch (an optional extra; the server never imports it).
# Everything this prints goes to stderr: stdout carries the MCP protocol.
# Environment: CROSSMODEL_MATCHER_ENV (where the environment lives; default: $CLAUDE_PLUGIN_DATA
# if set, else the plugin folder, + /.venv-plugin), PYTHON (interpreter without uv).
set -eu
ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
ENV_DIR=${CROSSMODEL_MATCHER_ENV:-${CLAUDE_PLUGIN_DATA:-$ROOT}/.venv-plugin}
READY="$ENV_DIR/.crossmodel-matcher-ready"
[ $# -gt 0 ] || set -- serve

if [ -x "$ROOT/.venv/bin/crossmodel-matcher" ] && [ -z "${CROSSMODEL_MATCHER_ENV:-}" ]; then
  exec "$ROOT/.venv/bin/crossmodel-matcher" "$@"
fi

install_with_uv() {
  echo "crossmodel-matcher: first start: creating $ENV_DIR with uv (under a minute)" >&2
  UV_PROJECT_ENVIRONMENT=$ENV_DIR uv sync --quiet --no-dev --compile-bytecode --project "$ROOT" >&2
}

install_with_pip() {
  PY=${PYTHON:-python3}
  if ! command -v "$PY" >/dev/null 2>&1; then
    echo "crossmodel-matcher: needs uv or Python 3.11+ on PATH (https://docs.astral.sh/uv/)" >&2
    exit 1
  fi
  if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "crossmodel-matcher: $PY is $("$PY" -V 2>&1); it needs Python 3.11+ (or install uv)" >&2
    exit 1
  fi
  echo "crossmodel-matcher: first start: installing into $ENV_DIR with pip (a few minutes)" >&2
  [ -x "$ENV_DIR/bin/python" ] || "$PY" -m venv "$ENV_DIR" >&2
  "$ENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check "$ROOT" >&2
}

# Made again when missing, when pyproject.toml is newer, or when it was made for another plugin
# folder ($CLAUDE_PLUGIN_DATA outlives a plugin version; uv installs the plugin editable).
if [ ! -f "$READY" ] || [ "$ROOT/pyproject.toml" -nt "$READY" ] || [ "$(cat "$READY")" != "$ROOT" ]; then
  if command -v uv >/dev/null 2>&1; then install_with_uv; else install_with_pip; fi
  echo "$ROOT" > "$READY"  # only after a complete install: an interrupted one is redone next start
fi
exec "$ENV_DIR/bin/crossmodel-matcher" "$@"
