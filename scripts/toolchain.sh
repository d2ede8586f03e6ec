# Sourced by the other scripts: pinned versions and where each real part lives.
# Everything is cached outside the checkout so a fresh clone (CI) reuses it.
AURA_CACHE_DIR="${AURA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/aura}"

TEMPORAL_CLI_VERSION="v1.5.1"          # newest tag `go install` accepts (v1.6+ has a replace directive)
TEMPORAL_TEST_SERVER_VERSION="1.39.0"  # io.temporal:temporal-test-server on Maven Central
LIVEKIT_SERVER_VERSION="v1.11.0"       # newest tag `go install` accepts (later ones carry replace directives)
# SeaweedFS publishes no semver module tags; this is the pseudo-version the Go module proxy serves.
SEAWEEDFS_VERSION="v0.0.0-20261109003541-7506e5f91cd6"

TEMPORAL_CLI_PATH="${TEMPORAL_CLI_PATH:-$AURA_CACHE_DIR/temporal-cli/$TEMPORAL_CLI_VERSION/temporal}"
TEMPORAL_TEST_SERVER_PATH="${TEMPORAL_TEST_SERVER_PATH:-$AURA_CACHE_DIR/temporal-test-server/$TEMPORAL_TEST_SERVER_VERSION/temporal-test-server}"
LIVEKIT_SERVER_PATH="${LIVEKIT_SERVER_PATH:-$AURA_CACHE_DIR/livekit/$LIVEKIT_SERVER_VERSION/livekit-server}"
SEAWEEDFS_PATH="${SEAWEEDFS_PATH:-$AURA_CACHE_DIR/seaweedfs/$SEAWEEDFS_VERSION/weed}"

# Debian's postgresql package puts its binaries in a versioned folder off PATH.
pg_bin_dir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

export AURA_CACHE_DIR TEMPORAL_CLI_PATH TEMPORAL_TEST_SERVER_PATH LIVEKIT_SERVER_PATH SEAWEEDFS_PATH

# The AWS SDK v3 (S3 uploads) warns once per process that its releases after January 2027 need
# Node 22; the version pinned in package-lock.json supports Node 20, which this project runs.
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
