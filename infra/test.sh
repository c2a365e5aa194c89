#!/usr/bin/env bash
# Every check CI runs, runnable on a fresh machine with Rust (cargo, rustfmt, clippy), Python 3
# and bash: creates .venv with the pinned tools (infra/requirements.txt) when needed, starts
# the moto AWS emulator on a free loopback port for the AWS adapter tests, then runs the
# stages: rustfmt, clippy, cfn-lint on template.yaml, and the workspace's tests. Each stage is
# timed; the first failure stops the run with a non-zero status, and moto is always stopped.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# A persistent build cache outside the repository, shared by every checkout on this machine.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${HOME:?set HOME or CARGO_TARGET_DIR}/.cache/gestordigital/target}"
# shellcheck source=infra/lib.sh
source infra/lib.sh

command -v cargo >/dev/null || { echo "cargo is required: https://rustup.rs" >&2; exit 1; }

# stage NAME COMMAND...: runs the command, timed, between "==> NAME" and "<== NAME: Ns".
failed_stage=""
stage() {
  local name="$1" start=$SECONDS
  shift
  echo "==> $name"
  if ! "$@"; then
    failed_stage="$name"
    echo "<== $name: FAILED after $((SECONDS - start))s" >&2
    return 1
  fi
  echo "<== $name: $((SECONDS - start))s"
}

started=$SECONDS
moto_log="$(mktemp "${TMPDIR:-/tmp}/gestor-moto.XXXXXX")"
on_exit() {
  local status=$?
  stop_moto
  if [[ $failed_stage == "cargo test" && -s "$moto_log" ]]; then
    echo "--- the last requests moto served:" >&2
    tail -n 15 "$moto_log" >&2
  fi
  rm -f "$moto_log"
  if [[ $status -eq 0 ]]; then
    echo "==> every stage passed; total: $((SECONDS - started))s"
  else
    echo "==> FAILED${failed_stage:+ at $failed_stage} (status $status); total: $((SECONDS - started))s" >&2
  fi
  exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stage "python tools" ensure_venv
stage "moto" start_moto_on_free_port "$moto_log"
endpoint="http://127.0.0.1:$MOTO_PORT"
echo "moto answers on $endpoint"

stage "cargo fmt" cargo fmt --all -- --check
stage "cargo clippy" cargo clippy --workspace --all-targets -- -D warnings
stage "cfn-lint" .venv/bin/cfn-lint template.yaml
# Only the emulator's endpoint and dummy credentials: these tests never reach a real account.
stage "cargo test" env -u AWS_PROFILE -u AWS_SESSION_TOKEN \
  GESTOR_TEST_AWS_ENDPOINT="$endpoint" GESTOR_REQUIRE_AWS=1 \
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
  cargo test --workspace

