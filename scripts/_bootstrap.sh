# shellcheck shell=bash
# Shared set-up for scripts/run, scripts/test, scripts/check and scripts/bench.
# Creates .venv, installs the package (editable) with the requested extras, and
# installs mosquitto and mosquitto-clients (mosquitto_pub/_sub, used in the README)
# through apt-get when either is missing and we are root.
# Re-running is cheap: pip runs again only when setup.cfg changes, and the bytecode
# of the package and the built-in plugins is compiled only where a source changed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LEDMATRIX_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"

ensure_mosquitto() {
  if { command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; } \
      && command -v mosquitto_pub >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing mosquitto with apt-get" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto mosquitto-clients >/dev/null
  else
    echo "bootstrap: mosquitto is not installed and we are not root; install it with:" >&2
    echo "  sudo apt-get install mosquitto mosquitto-clients" >&2
  fi
}

ensure_venv() {
  local extras="$1"
  if [ ! -x "$VENV/bin/python" ]; then
    echo "bootstrap: creating $VENV" >&2
    "$PY" -m venv "$VENV"
  fi
  local stamp="$VENV/.ledmatrix-installed-$extras"
  local want
  want="$(cat "$ROOT/setup.cfg" "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
  # The dev extras include the emulator: a current dev install serves scripts/run too.
  if [ "$extras" = "emulator" ] && [ -f "$VENV/.ledmatrix-installed-dev" ] \
      && [ "$(cat "$VENV/.ledmatrix-installed-dev")" = "$want" ]; then
    return 0
  fi
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "bootstrap: installing ledmatrix-mqtt[$extras] into $VENV" >&2
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
    # setuptools warns about editable installs of a flat layout on every install
    PYTHONWARNINGS=ignore "$VENV/bin/python" -m pip install -q -e "$ROOT[$extras]"
    echo "$want" > "$stamp"
  fi
  compile_bytecode
}

# The package's and the built-in plugins' bytecode, written here (an editable install
# has none) so that no start of the service compiles them; compileall rewrites only
# what is missing or older than its source (after a git pull). Without it (an
# unwritable tree) the service still runs, compiling in memory at every start.
compile_bytecode() {
  if ! "$VENV/bin/python" -m compileall -q "$ROOT/ledmatrix_mqtt" "$ROOT/plugins" >/dev/null; then
    echo "bootstrap: could not write all bytecode under $ROOT; every start compiles it" >&2
  fi
}
export PATH="$VENV/bin:$PATH:/usr/sbin"
