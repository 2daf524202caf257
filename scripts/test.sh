#!/usr/bin/env bash
# Runs every test of the workspace. Tests use real parts: a real HTTP server
# on 127.0.0.1, real SQLite files, the real `agg` binary, and the real
# sentence model (installed first by scripts/setup-model.sh; idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
models="$(./scripts/setup-model.sh --int8)"
# The model is in place: tests that need it must not skip.
export AGG_REQUIRE_MODEL=1
# The optional int8 CPU model is made on this machine by ONNX Runtime's
# quantizer and installed only if its sha256 matches; where it could not be
# made (the script said why), its one test skips instead of failing the suite.
if [ -f "$models/model.int8.onnx" ]; then
  export AGG_REQUIRE_INT8=1
else
  echo "test.sh: no model.int8.onnx in $models: the int8 model's test will SKIP" >&2
fi
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
  cargo test --workspace --doc
else
  cargo test --workspace --no-fail-fast
fi
