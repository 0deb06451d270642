#!/usr/bin/env bash
# make install: a venv with tracekit (editable) and its extras at the versions pinned in
# requirements/lock.txt (see scripts/lock.sh), and its Jupyter kernel registered.
# Settings from the environment: PYTHON (python3), VENV (.venv), EXTRAS (test,lab,spark).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
EXTRAS="${EXTRAS:-test,lab,spark}"
LOCK=requirements/lock.txt
PIP_VERSION=26.3 # the installer the lock was installed and tested with
started=$SECONDS

echo "make install: tracekit[$EXTRAS] into $VENV at the versions in $LOCK" \
  "(2-4 minutes the first time, seconds after)"
if [ ! -x "$VENV/bin/python" ]; then
  echo "  creating $VENV with $("$PYTHON" --version 2>&1)"
  "$PYTHON" -m venv "$VENV"
fi
log="$VENV/install.log"
: >"$log"
quietly() { # run a step with its output in the log; show the log's end if it fails
  if ! "$@" >>"$log" 2>&1; then
    echo "make install: failed: $*" >&2
    tail -n 25 "$log" >&2
    echo "make install: the whole output is in $log" >&2
    exit 1
  fi
}
# setuptools prints boxed notices (e.g. "Editable installation ...") as warnings from the
# build backend: nothing to act on, ~15 lines each
export PYTHONWARNINGS=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
echo "  pip $PIP_VERSION"
quietly "$VENV/bin/python" -m pip install "pip==$PIP_VERSION"
echo "  $(grep -c '^[a-z0-9]' "$LOCK") pinned packages and tracekit itself (output in $log)"
quietly "$VENV/bin/python" -m pip install --constraint "$LOCK" --editable ".[$EXTRAS]"
# The compiled Jaeger JSON converter (native/, crates pinned by native/Cargo.lock), built with
# the machine's Rust toolchain; without one, imports take the slower Python path.
if command -v cargo >/dev/null; then
  echo "  the compiled converter (native/, $(cargo --version | cut -d' ' -f1-2); a minute the first time)"
  quietly "$VENV/bin/python" -m pip install --requirement requirements/native.txt
  # maturin runs cargo; it must find itself (and the venv's Python) on PATH
  PATH="$PWD/$VENV/bin:$PATH" quietly "$VENV/bin/python" -m pip install --no-build-isolation ./native
else
  echo "  no cargo here: the compiled converter (native/) is not built, imports take the" \
    "slower Python path (install Rust from https://rustup.rs, then make install)"
fi
echo "  Jupyter kernel 'tracekit (.venv)'"
quietly "$VENV/bin/python" -m ipykernel install --prefix "$VENV" --name tracekit \
  --display-name "tracekit (.venv)"
echo "make install: done in $((SECONDS - started)) s"
