#!/usr/bin/env bash
# Runs every test of the workspace. Tests use real parts: a real HTTP server
# on 127.0.0.1, real SQLite files, the real `agg` binary, and the real
# sentence model (installed first by scripts/setup-model.sh; idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-model.sh --int8 >/dev/null
# The model is in place: tests that need it must not skip.
export AGG_REQUIRE_MODEL=1
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
  cargo test --workspace --doc
else
  cargo test --workspace --no-fail-fast
fi
