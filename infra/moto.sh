#!/usr/bin/env bash
# The moto AWS emulator for manual use (`GESTOR_BACKEND=aws` on a laptop): ensures .venv,
# starts moto on 127.0.0.1:${MOTO_PORT:-4566}, creates the table, queues and bucket of
# shared/src/resources.rs in it (`gestor-local provision`), prints the environment to export
# in another shell (also written to .gestor/moto.env), and keeps moto running until Ctrl-C.
# moto keeps everything in memory: a restart starts empty.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${HOME:?set HOME or CARGO_TARGET_DIR}/.cache/gestordigital/target}"
# shellcheck source=infra/lib.sh
source infra/lib.sh

port="${MOTO_PORT:-4566}"
endpoint="http://127.0.0.1:$port"
mkdir -p .gestor
log=.gestor/moto.log

trap stop_moto EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_venv
start_moto "$port" "$log"
echo "moto answers on $endpoint (log: $log); provisioning..." >&2

export AWS_ENDPOINT_URL="$endpoint" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test \
  AWS_SECRET_ACCESS_KEY=test GESTOR_BACKEND=aws
unset AWS_PROFILE AWS_SESSION_TOKEN
# The build first, in the open: on a fresh machine it takes minutes, and its progress should show.
echo "building gestor-local (the first build takes a few minutes)..." >&2
cargo build -p gestor-local >&2
provisioned="$(cargo run -q -p gestor-local -- provision)"

{
  echo "export AWS_ENDPOINT_URL=$endpoint"
  echo "export AWS_REGION=us-east-1"
  echo "export AWS_ACCESS_KEY_ID=test"
  echo "export AWS_SECRET_ACCESS_KEY=test"
  echo "export GESTOR_BACKEND=aws"
  printf '%s\n' "$provisioned"
} >.gestor/moto.env

echo
echo "# In another shell (or: source .gestor/moto.env), then cargo run -p gestor-local:"
cat .gestor/moto.env
echo
echo "# moto runs until Ctrl-C." >&2

status=0
wait "$MOTO_PID" || status=$?
MOTO_PID=""
echo "moto stopped (status $status); its log: $log" >&2
exit "$status"
