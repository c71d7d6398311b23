#!/usr/bin/env bash
# Creates .venv for $PYTHON, installs tuneplan (durable-rules built for that Python) and, where possible,
# the Graphviz `dot` program. Idempotent: a second run with the same Python and pyproject does nothing.
set -euo pipefail
PYTHON="${PYTHON:-python3}"
EXTRAS="${1:-}"            # "test" installs the test dependencies too
VENV=.venv

# A pyenv shim (python3.13) may exist yet refuse to run outside its selected versions: use the
# interpreter of the installed pyenv version that provides it.
if ! "$PYTHON" -c 'import sys' >/dev/null 2>&1 && command -v pyenv >/dev/null 2>&1; then
  for version in $(pyenv versions --bare 2>/dev/null); do
    candidate="$(pyenv root)/versions/$version/bin/$PYTHON"
    if [ -x "$candidate" ] && "$candidate" -c 'import sys' >/dev/null 2>&1; then
      PYTHON="$candidate"
      break
    fi
  done
fi
if ! "$PYTHON" -c 'import sys' >/dev/null 2>&1; then
  echo "bootstrap: '$PYTHON' is not a working Python; install Python 3.11+ or pass PYTHON=/path/to/python3" >&2
  exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "bootstrap: $("$PYTHON" --version 2>&1) is too old; tuneplan supports CPython 3.11, 3.12 and 3.13" >&2
  exit 1
fi
want="$("$PYTHON" -c 'import sys; print(sys.version.split()[0])')"

# A venv made by another interpreter is rebuilt rather than half-reused.
if [ -x "$VENV/bin/python" ]; then
  have="$("$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])' 2>/dev/null || echo none)"
  if [ "$have" != "$want" ]; then
    echo "bootstrap: .venv has Python $have, wanted $want: rebuilding"
    rm -rf "$VENV"
  fi
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"

stamp="$VENV/.tuneplan-installed-$EXTRAS"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  # durable-rules 2.0.28 ships only an sdist. On 3.13 the removed PyEval_CallObject is an alias of
  # PyObject_CallObject, so the C extension is built with that define (see docs/architecture.md).
  if "$VENV/bin/python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 13) else 1)'; then
    CC="${CC:-gcc} -DPyEval_CallObject=PyObject_CallObject" \
      "$VENV/bin/python" -m pip install --quiet --no-cache-dir --no-binary durable_rules "durable_rules==2.0.28"
  fi
  if [ -n "$EXTRAS" ]; then spec=".[$EXTRAS]"; else spec="."; fi
  "$VENV/bin/python" -m pip install --quiet -e "$spec"
  "$VENV/bin/python" -c 'import durable.engine, durable_rules_engine' || {
    echo "bootstrap: durable-rules was installed but does not import on Python $want" >&2; exit 1; }
  touch "$stamp"
fi

# apt_install PACKAGE WHAT-IT-IS-FOR: install a Debian package when running as root with apt-get,
# otherwise say what will not work without it. Never fails the set-up.
apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing $1 (apt-get install $1) for $2"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null) || \
      echo "bootstrap: apt-get could not install $1; $2 will not work" >&2
  else
    echo "bootstrap: $1 is missing and this is not a root apt system; install it (e.g. 'sudo apt-get install" \
         "$1' or 'brew install $1') for $2" >&2
  fi
}

# Graphviz's `dot` draws .svg/.png graphs; .dot output works without it.
command -v dot >/dev/null 2>&1 || apt_install graphviz "the .svg/.png decision graphs"

# The browser tests (tests/web/test_web_e2e.py) drive Debian's Chromium through Playwright; Playwright's own
# browser download is not used. Without Chromium those tests skip and say why.
# TUNEPLAN_BROWSER_TESTS=0 skips both the install and those tests (pytest reports them as skipped).
if [ "$EXTRAS" = "test" ] && [ ! -x /usr/bin/chromium ]; then
  if [ "${TUNEPLAN_BROWSER_TESTS:-1}" = 0 ]; then
    echo "bootstrap: TUNEPLAN_BROWSER_TESTS=0: not installing Chromium; the browser tests will be skipped"
  else
    apt_install chromium "the browser tests (they are skipped without it; TUNEPLAN_BROWSER_TESTS=0 skips them)"
  fi
fi
