#!/usr/bin/env bash
# Install the Debian packages the app (or its tests) need, only when something is missing.
# Usage: scripts/system-deps.sh run|test
set -euo pipefail
want=(wkhtmltopdf fonts-noto-cjk)
if [ "${1:-run}" = "test" ]; then
  want+=(chromium poppler-utils zbar-tools postgresql postgresql-client)
fi
missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q -o DPkg::Lock::Timeout=300
$SUDO apt-get install -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}"
