#!/bin/sh
# The test command: make sure the browser the UI test drives is present, then run pytest.
# Debian's chromium (never a browser downloaded by a test tool); needs root to install.
set -e
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "tests/run.sh: installing Debian chromium for the browser test" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "tests/run.sh: /usr/bin/chromium is missing; install it (apt-get install chromium)" >&2
  fi
fi
exec .venv/bin/python -m pytest "$@"
