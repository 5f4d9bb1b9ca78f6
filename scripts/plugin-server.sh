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
  echo "creating $ENV_DIR with uv (under a minute)" >&2
  UV_PROJECT_ENVIRONMENT=$ENV_DIR uv sync --quiet --no-dev --compile-bytecode --project "$ROOT" >&2
}

install_with_pip() {
  echo "installing into $ENV_DIR with pip (a few minutes)" >&2
  [ -x "$ENV_DIR/bin/python" ] || "${PYTHON:-python3}" -m venv "$ENV_DIR" >&2
  "$ENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check "$ROOT" >&2
}

check_python() {
  PY=${PYTHON:-python3}
  if ! command -v "$PY" >/dev/null 2>&1; then
    echo "crossmodel-matcher: needs uv or Python 3.11+ on PATH (https://docs.astral.sh/uv/)" >&2
    exit 1
  fi
  if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "crossmodel-matcher: $PY is $("$PY" -V 2>&1); it needs Python 3.11+ (or install uv)" >&2
    exit 1
  fi
}

# Made again when missing, when pyproject.toml is newer, or when it was made for another plugin
# folder ($CLAUDE_PLUGIN_DATA outlives a plugin version; uv installs the plugin editable).
needs_env() {
  [ ! -f "$READY" ] || [ "$ROOT/pyproject.toml" -nt "$READY" ] || [ "$(cat "$READY")" != "$ROOT" ]
}

LOCK="$ENV_DIR.installing"
LOG="$ENV_DIR.install.log"
if [ "${1:-}" = "--make-env" ]; then  # the installer, detached from the client (see below)
  echo $$ > "$LOCK/pid"
  trap 'rm -rf "$LOCK"' EXIT
  if command -v uv >/dev/null 2>&1; then install_with_uv; else install_with_pip; fi
  echo "$ROOT" > "$READY"  # only after a complete install: an interrupted one is redone next start
  exit 0
fi

if needs_env; then
  command -v uv >/dev/null 2>&1 || check_python
  mkdir -p "$(dirname "$ENV_DIR")"
  if mkdir "$LOCK" 2>/dev/null; then
    echo $$ > "$LOCK/pid"
    echo "crossmodel-matcher: first start: making $ENV_DIR (log: $LOG)" >&2
    # In a session of its own, writing to a file: a client that gives up on a slow first start
    # (a start-up timeout) ends this process and its pipes, not the install; its next start
    # finds the environment made.
    if command -v setsid >/dev/null 2>&1; then
      setsid sh "$0" --make-env </dev/null >"$LOG" 2>&1 &
    else
      nohup sh "$0" --make-env </dev/null >"$LOG" 2>&1 &
    fi
  else
    echo "crossmodel-matcher: another start is making $ENV_DIR; waiting for it" >&2
  fi
  while [ -d "$LOCK" ]; do  # until the installer is done, or gone without finishing
    pid=$(cat "$LOCK/pid" 2>/dev/null || true)
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && [ -d "$LOCK" ]; then
      rm -rf "$LOCK"
    fi
    sleep 1
  done
  if needs_env; then
    tail -n 20 "$LOG" >&2 2>/dev/null || true
    echo "crossmodel-matcher: could not make $ENV_DIR (log above: $LOG); the next start tries again" >&2
    exit 1
  fi
fi
exec "$ENV_DIR/bin/crossmodel-matcher" "$@"
