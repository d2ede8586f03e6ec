#!/usr/bin/env bash
# `npm run stack`: installs what is missing, then runs the whole development stack.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/provision.sh"
source "$here/toolchain.sh"
cd "$here/.."
exec node --import tsx scripts/stack/dev.ts
