#!/usr/bin/env bash
# `npm test`: installs what is missing, checks types and lint, then runs every jest suite
# against real PostgreSQL, Redis, the Temporal dev server and the time-skipping test server.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/provision.sh"
source "$here/toolchain.sh"
cd "$here/.."
echo "[test] typecheck"; npx tsc -p tsconfig.json --noEmit
echo "[test] lint"; npx eslint --max-warnings 0 .
echo "[test] jest"
mkdir -p test-results
set +e
npx jest --ci --runInBand --json --outputFile=test-results/jest.json "$@"
status=$?
set -e
node -e '
  const r = require("./test-results/jest.json");
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests + r.numRuntimeErrorTestSuites} failed`);
' || true
exit $status
