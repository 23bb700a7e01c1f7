#!/usr/bin/env bash
# Installs what the tests need when it is missing: PostgreSQL, Redis and
# Chromium from Debian packages (only as root with apt-get), and the npm
# packages the browser tests inject (axe-core). Without root it only reports.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
have_pg=no
if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then have_pg=yes; fi
[ "$have_pg" = yes ] || need+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
# Korean glyphs for the browser tests' screenshots (without them Chromium draws boxes).
ls /usr/share/fonts/opentype/noto/NotoSansCJK* >/dev/null 2>&1 || need+=(fonts-noto-cjk)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test-deps: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends "${need[@]}" >/tmp/vaxbook-apt.log 2>&1; then
      apt-get update -q >>/tmp/vaxbook-apt.log 2>&1 || true
      apt-get install -y -q --no-install-recommends "${need[@]}" >>/tmp/vaxbook-apt.log 2>&1 || {
        echo "test-deps: apt-get install failed, see /tmp/vaxbook-apt.log"; tail -20 /tmp/vaxbook-apt.log; }
    fi
    # The Debian package starts cluster services we do not use; tests start their own.
    if command -v service >/dev/null 2>&1; then
      service redis-server stop >/dev/null 2>&1 || true
    fi
  else
    echo "test-deps: missing ${need[*]} (not root or no apt-get): tests that need them skip, or fail under CI=true"
  fi
fi

# axe-core for the accessibility checks of the browser tests.
if [ -f web/browsertest/package.json ] && [ ! -f web/browsertest/node_modules/axe-core/axe.min.js ]; then
  if command -v npm >/dev/null 2>&1; then
    (cd web/browsertest && npm install --no-audit --no-fund --silent >/tmp/vaxbook-npm.log 2>&1) ||
      { echo "test-deps: npm install failed, see /tmp/vaxbook-npm.log"; tail -20 /tmp/vaxbook-npm.log; }
  fi
fi
exit 0
