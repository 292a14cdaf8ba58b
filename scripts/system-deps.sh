#!/usr/bin/env bash
# Install the Debian packages the app (or its tests) need, only when something is missing;
# also make sure a Redis answers on 127.0.0.1:6379 (the jobs' broker; the tests' shared rate
# limits). For `run` Redis is optional: when it cannot be installed or started, `make run` runs
# the jobs inside the web process instead (lms/jobs.py), with a warning.
# Usage: scripts/system-deps.sh run|test
set -euo pipefail
mode=${1:-run}
want=(wkhtmltopdf fonts-noto-cjk)
if [ "$mode" = "test" ]; then
  want+=(chromium poppler-utils zbar-tools postgresql postgresql-client redis-server)
fi
# for `run`, Redis is wanted but not required
optional=()
if [ "$mode" = "run" ] && ! command -v redis-server >/dev/null 2>&1 \
    && ! dpkg-query -W -f='${Status}' redis-server 2>/dev/null | grep -q "install ok installed"; then
  optional+=(redis-server)
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
if [ ${#optional[@]} -gt 0 ]; then
  echo "installing Debian packages: ${optional[*]} (optional: jobs run in the web process without it)"
  export DEBIAN_FRONTEND=noninteractive
  { $SUDO apt-get update -q -o DPkg::Lock::Timeout=300 \
    && $SUDO apt-get install -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends "${optional[@]}"; } \
    || echo "WARNING: could not install ${optional[*]}; jobs will run inside the web process" >&2
fi
redis_answers() {
  if command -v redis-cli >/dev/null 2>&1; then
    redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1
  else
    (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null
  fi
}
if ! redis_answers; then
  if command -v redis-server >/dev/null 2>&1; then
    # nobody answers: start one (in memory only, on loopback); it outlives `make run` so queued
    # jobs survive a restart of the app
    echo "starting redis-server on 127.0.0.1:6379"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir /tmp --logfile /tmp/lms-redis.log || true
    for _ in $(seq 50); do redis_answers && break; sleep 0.1; done
  fi
  if ! redis_answers; then
    if [ "$mode" = "test" ]; then
      echo "no Redis on 127.0.0.1:6379 and none could be started" >&2
      exit 1
    fi
    echo "WARNING: no Redis on 127.0.0.1:6379: jobs will run inside the web process" >&2
  fi
fi
