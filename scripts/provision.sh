#!/usr/bin/env bash
# Installs every real part the stack and the tests need, idempotently:
#   PostgreSQL, Redis, docker-compose (Debian packages), the Temporal CLI (Go module),
#   the Temporal time-skipping test server (Maven Central) and the npm dependencies.
# A second run only checks. Safe to run from several shells at once (flock).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
# shellcheck source=toolchain.sh
source "$here/toolchain.sh"
mkdir -p "$AURA_CACHE_DIR"
exec 9>"$AURA_CACHE_DIR/.provision.lock"
flock 9

log() { printf '[provision] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# 1. Debian packages. Their services are never used: the project starts its own
#    servers on loopback with data directories it owns.
missing=()
[ -n "$(pg_bin_dir)" ] || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v docker-compose >/dev/null || missing+=(docker-compose)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# A package install may start the system services; they are not ours and would hold the default ports.
for svc in postgresql redis-server; do
  if command -v service >/dev/null && service "$svc" status >/dev/null 2>&1; then
    as_root service "$svc" stop >/dev/null 2>&1 || true
  fi
done

# `go install <package@version>` into a scratch folder, then moved to <dest> in one step, so an
# interrupted build never leaves a half-written binary where the next run would trust it.
go_install_to() {
  local package="$1" built="$2" dest="$3" tmp_bin
  tmp_bin="$(dirname "$dest").tmp"
  rm -rf "$tmp_bin" && mkdir -p "$tmp_bin"
  (cd "$AURA_CACHE_DIR" && GOBIN="$tmp_bin" GOFLAGS=-mod=mod go install "$package")
  mkdir -p "$(dirname "$dest")"
  mv "$tmp_bin/$built" "$dest"
  rm -rf "$tmp_bin"
}

# 2. The Temporal CLI (dev server with the Web UI embedded), built from its Go module.
if [ ! -x "$TEMPORAL_CLI_PATH" ]; then
  log "building the Temporal CLI $TEMPORAL_CLI_VERSION with go install (first time takes minutes)"
  go_install_to "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION" temporal "$TEMPORAL_CLI_PATH"
fi

# 3. The time-skipping test server: the Java build of Temporal's test server, resolved
#    with Maven, behind a wrapper that @temporalio/testing runs as `<path> <port>`.
if [ ! -x "$TEMPORAL_TEST_SERVER_PATH" ]; then
  log "resolving io.temporal:temporal-test-server:$TEMPORAL_TEST_SERVER_VERSION with Maven"
  dir="$(dirname "$TEMPORAL_TEST_SERVER_PATH")"
  rm -rf "$dir" && mkdir -p "$dir"
  cat >"$dir/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>aura</groupId><artifactId>temporal-test-server-deps</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>io.temporal</groupId><artifactId>temporal-test-server</artifactId>
      <version>$TEMPORAL_TEST_SERVER_VERSION</version>
    </dependency>
  </dependencies>
</project>
POM
  (cd "$dir" && mvn -q -B dependency:copy-dependencies -DoutputDirectory=lib -DincludeScope=runtime)
  cat >"$dir/temporal-test-server.tmp" <<'WRAP'
#!/bin/sh
# Started by @temporalio/testing as `<this file> <port>`; time skipping is unlocked by the SDK.
dir="$(cd "$(dirname "$0")" && pwd)"
exec java -Xss1m -cp "$dir/lib/*" io.temporal.testserver.TestServer "$@"
WRAP
  chmod +x "$dir/temporal-test-server.tmp"
  mv "$dir/temporal-test-server.tmp" "$TEMPORAL_TEST_SERVER_PATH"
fi

# 3b. The LiveKit media server (SFU), built from its Go module like the Temporal CLI.
if [ ! -x "$LIVEKIT_SERVER_PATH" ]; then
  log "building LiveKit server $LIVEKIT_SERVER_VERSION with go install (first time takes minutes)"
  go_install_to "github.com/livekit/livekit-server/cmd/server@$LIVEKIT_SERVER_VERSION" server "$LIVEKIT_SERVER_PATH"
fi

# 3c. SeaweedFS (the S3-compatible object store; Apache-2.0). Its go.mod has a replace
#     directive, which `go install pkg@version` refuses, so the module is downloaded from the
#     proxy and built as the main module, where its own go.mod and go.sum apply.
if [ ! -x "$SEAWEEDFS_PATH" ]; then
  log "building SeaweedFS $SEAWEEDFS_VERSION from the Go module proxy (first time takes minutes)"
  src="$(cd "$AURA_CACHE_DIR" && go mod download -json "github.com/seaweedfs/seaweedfs@$SEAWEEDFS_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -d "$src" ] || { log "SeaweedFS source not found after go mod download"; exit 1; }
  mkdir -p "$(dirname "$SEAWEEDFS_PATH")"
  (cd "$src" && GOFLAGS=-mod=mod go build -o "$SEAWEEDFS_PATH.tmp" ./weed)
  mv "$SEAWEEDFS_PATH.tmp" "$SEAWEEDFS_PATH"
fi

# 4. npm dependencies, exactly as locked. Skipped when the lock file has not changed.
stamp="$root/node_modules/.aura-lock-stamp"
if [ ! -f "$stamp" ] || ! cmp -s "$root/package-lock.json" "$stamp"; then
  log "installing npm dependencies (npm ci)"
  (cd "$root" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$root/package-lock.json" "$stamp"
fi
if (cd "$root" && npm install-scripts ls 2>/dev/null | grep -q 'not yet covered'); then
  log "some npm install scripts were held back; run 'npm install-scripts ls'"; exit 1
fi

log "ready: temporal=$TEMPORAL_CLI_PATH test-server=$TEMPORAL_TEST_SERVER_PATH livekit=$LIVEKIT_SERVER_PATH seaweedfs=$SEAWEEDFS_PATH postgres=$(pg_bin_dir)"
