#!/usr/bin/env bash
# The Debian/Ubuntu packages `make run` and `make test` need beyond Python's own: installed with apt-get when
# running as root, otherwise named in one line with the command that installs them.
#   tools/system-packages.sh run    python3 venv (training, prediction)
#   tools/system-packages.sh test   + g++ and make (HLS C simulation, Verilator models), Icarus Verilog (RTL benches)
set -euo pipefail
target="${1:-test}"

missing=()
need() {  # need PACKAGE CHECK...: the Debian package PACKAGE when the check command fails
    local package="$1"; shift
    "$@" >/dev/null 2>&1 || missing+=("$package")
}
need python3-venv python3 -c 'import ensurepip, venv'
if [ "$target" = test ]; then
    need g++ g++ --version
    need make make --version
    need perl perl -v          # Verilator's driver script
    need iverilog iverilog -V
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    exit 0
fi
echo "missing system packages: ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2
exit 1
