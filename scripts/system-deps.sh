#!/usr/bin/env bash
# Install the Debian packages the app (or its tests) need, only when something is missing;
# for the tests, also make sure a Redis answers on 127.0.0.1:6379 (shared rate limits).
# Usage: scripts/system-deps.sh run|test
set -euo pipefail
mode=${1:-run}
want=(wkhtmltopdf fonts-noto-cjk)
if [ "$mode" = "test" ]; then
  want+=(chromium poppler-utils zbar-tools postgresql postgresql-client redis-server)
fi
missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q -o DPkg::Lock::Timeout=300
  $SUDO apt-get install -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}"
fi
if [ "$mode" = "test" ] && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  # nobody answers: start one for the tests (in memory only, on loopback)
  echo "starting redis-server on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp --logfile /tmp/lms-redis.log
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
