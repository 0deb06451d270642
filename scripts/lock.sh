#!/usr/bin/env bash
# make lock: pin every dependency, so installs get the versions the tests passed with.
#
#   requirements/lock.txt   tracekit's dependencies with all its extras (pyproject.toml), for
#                           Python 3.11+ on any platform (uv's universal resolution)
#   requirements/NAME.txt   from requirements/NAME.in, for a venv of its own (e.g. the services
#                           a test starts), constrained to agree with lock.txt
#
# After a dependency is added to pyproject.toml or an .in file, run `make lock` and commit the
# changed lock files with it; versions already pinned are kept. `make lock UPGRADE=1` moves every
# pin to the newest release. Then `make install` and `make test`: the lock is what they pass with.
# uv (pinned below) runs from a venv of its own in the cache, outside the project's.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.8
PYTHON_FLOOR=3.11 # pyproject's requires-python
TOOL="${XDG_CACHE_HOME:-$HOME/.cache}/tracekit/uv-$UV_VERSION"
if [ ! -x "$TOOL/bin/uv" ]; then
  echo "make lock: installing uv $UV_VERSION into $TOOL"
  "${PYTHON:-python3}" -m venv "$TOOL"
  "$TOOL/bin/pip" install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
upgrade=()
if [ -n "${UPGRADE:-}" ]; then upgrade=(--upgrade); fi

compile() { # OUTPUT INPUT [uv options...]
  local output=$1 input=$2
  shift 2
  echo "make lock: $input -> $output"
  "$TOOL/bin/uv" pip compile "$input" "$@" --universal --python-version "$PYTHON_FLOOR" \
    --quiet --no-progress "${upgrade[@]}" --custom-compile-command "make lock" -o "$output"
}

compile requirements/lock.txt pyproject.toml --all-extras
for input in requirements/*.in; do
  [ -e "$input" ] || continue
  compile "${input%.in}.txt" "$input" --constraint requirements/lock.txt
done
