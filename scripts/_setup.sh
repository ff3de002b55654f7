# Sourced by scripts/serve and scripts/test: make .venv (CPython 3.12, the
# Python inside Pyodide 0.27) with the build, app and test dependencies, then
# fetch the verified offline runtime and build site/. Idempotent and quick
# the second time: pip and the runtime cache skip what is already there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

find_python312() {
  local c
  for c in python3.12 /root/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12 /usr/local/bin/python3.12; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
      command -v "$c"; return 0
    fi
  done
  # pyenv knows 3.12 but has not put it on PATH for this shell.
  if command -v pyenv >/dev/null 2>&1; then
    local v; v=$(pyenv versions --bare 2>/dev/null | grep -E '^3\.12' | tail -n1 || true)
    if [ -n "$v" ]; then echo "$(pyenv root)/versions/$v/bin/python3.12"; return 0; fi
  fi
  echo "CPython 3.12 is needed (it matches Python inside Pyodide 0.27)" >&2
  return 1
}

if [ ! -x .venv/bin/python ]; then
  "$(find_python312)" -m venv .venv
fi
PY="$ROOT/.venv/bin/python"
"$PY" -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
"$PY" -m pip install -q --disable-pip-version-check -e ".[app,build,test]" 2>&1 | grep -v '^WARNING: Location' || true
"$PY" -c 'import panel, bokeh, pyodide_lock, playwright, toycore' # fail here, not later
"$PY" -m build.site
