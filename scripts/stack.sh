#!/usr/bin/env bash
# `npm run stack`: installs what is missing, then runs the whole development stack.
# Signals: npm passes SIGINT/SIGTERM on to its script's process, which must be the supervisor
# itself. So package.json runs this file with `exec` (sh would otherwise die on the signal and
# orphan the stack) and this file execs node; npm then waits for the supervisor to finish.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/provision.sh"
source "$here/toolchain.sh"
cd "$here/.."
exec node --import tsx scripts/stack/dev.ts
