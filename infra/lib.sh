# shellcheck shell=bash
# Helpers shared by infra/test.sh and infra/moto.sh, sourced from the repository root: the
# Python virtualenv with the pinned tools of infra/requirements.txt, and a moto server (the
# AWS emulator) on loopback. Functions only; the caller sets the shell options.

GESTOR_REQUIREMENTS=infra/requirements.txt
MOTO_PID=""

# True when .venv holds exactly the versions pinned in infra/requirements.txt.
venv_current() {
  [[ -x .venv/bin/python && -x .venv/bin/moto_server && -x .venv/bin/cfn-lint ]] || return 1
  .venv/bin/python - "$GESTOR_REQUIREMENTS" <<'PY'
import re
import sys
from importlib.metadata import PackageNotFoundError, version

for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    pin = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?==(\S+)", line)
    if not pin:
        sys.exit(f"{sys.argv[1]}: pin every requirement as name==version, not {line!r}")
    try:
        if version(pin.group(1)) != pin.group(3):
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
}

# Creates .venv when missing and installs the pinned tools when missing or at another version.
ensure_venv() {
  if [[ ! -x .venv/bin/python ]]; then
    command -v python3 >/dev/null || { echo "python3 is required (3.9 or newer)" >&2; return 1; }
    echo "creating .venv" >&2
    if ! python3 -m venv .venv; then
      echo "python3 -m venv failed: install Python's venv module (Debian/Ubuntu: python3-venv)" >&2
      return 1
    fi
  fi
  if ! venv_current; then
    echo "installing $(grep -v '^#' "$GESTOR_REQUIREMENTS" | tr '\n' ' ')into .venv" >&2
    .venv/bin/python -m pip install --disable-pip-version-check -q -r "$GESTOR_REQUIREMENTS"
    venv_current || { echo ".venv still does not match $GESTOR_REQUIREMENTS" >&2; return 1; }
  fi
}

# Prints a TCP port that is free on 127.0.0.1 right now.
free_port() {
  .venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# True when something accepts connections on 127.0.0.1:PORT (an HTTP answer, with curl).
port_answers() {
  if command -v curl >/dev/null; then
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/moto-api/"
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

# start_moto PORT LOGFILE: starts moto on 127.0.0.1:PORT in the background (MOTO_PID) and
# waits, at most about 10 s, until it answers. Fails when the port is taken, when moto exits,
# or when it never answers; its log is shown then.
start_moto() {
  local port="$1" log="$2" i
  if port_answers "$port"; then
    echo "port $port is already in use: stop what listens there or choose another port" >&2
    return 1
  fi
  .venv/bin/moto_server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  MOTO_PID=$!
  for ((i = 0; i < 100; i++)); do
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then
      wait "$MOTO_PID" 2>/dev/null || true
      MOTO_PID=""
      echo "moto exited at startup; its log:" >&2
      tail -n 20 "$log" >&2
      return 1
    fi
    if port_answers "$port"; then
      return 0
    fi
    sleep 0.1
  done
  echo "moto did not answer on port $port within 10 s; its log:" >&2
  tail -n 20 "$log" >&2
  stop_moto
  return 1
}

# start_moto_on_free_port LOGFILE: start_moto on a free port (MOTO_PORT), trying another
# port when one is taken between the choice and moto's start.
start_moto_on_free_port() {
  local attempt
  for attempt in 1 2 3; do
    MOTO_PORT="$(free_port)"
    start_moto "$MOTO_PORT" "$1" && return 0
    echo "moto could not start on port $MOTO_PORT (attempt $attempt of 3)" >&2
  done
  return 1
}

# Stops the moto server started by start_moto, if it still runs (SIGTERM, SIGKILL after 5 s).
stop_moto() {
  local pid="$MOTO_PID" i
  MOTO_PID=""
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
