#!/usr/bin/env bash
# The Debian/Ubuntu packages `make run` and `make test` need beyond Python's own: installed with apt-get when
# running as root, otherwise named in one line with the command that installs them.
#   tools/system-packages.sh run    python3 venv (training, prediction)
#   tools/system-packages.sh test   + g++ and make (HLS C simulation, Verilator models), Icarus Verilog (RTL benches),
#                                   Arm cross compilers, newlib and QEMU (the C engine on AArch64 and Cortex-M)
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
    need gcc-aarch64-linux-gnu aarch64-linux-gnu-gcc --version
    need libc6-dev-arm64-cross test -f /usr/aarch64-linux-gnu/lib/libc.a     # for -static
    need qemu-user qemu-aarch64 --version
    need gcc-arm-none-eabi arm-none-eabi-gcc --version
    need libnewlib-arm-none-eabi sh -c 'arm-none-eabi-gcc -mthumb -mcpu=cortex-m4 -mfpu=fpv4-sp-d16 \
        -mfloat-abi=hard -print-file-name=librdimon_nano.a | grep -q /'
    need qemu-system-arm qemu-system-arm --version
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
