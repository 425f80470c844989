#!/usr/bin/env bash
# Sources the mounted Xilinx tools (if any) so that FINN finds Vivado and Vitis HLS, then runs the command.
# XILINX_ROOT (default /tools/Xilinx) and XILINX_VERSION (e.g. 2024.2) select them.
set -euo pipefail
root="${XILINX_ROOT:-/tools/Xilinx}"
if [ -n "${XILINX_VERSION:-}" ]; then
    for tool in Vivado Vitis_HLS Vitis; do
        settings="$root/$tool/$XILINX_VERSION/settings64.sh"
        # shellcheck disable=SC1090
        if [ -f "$settings" ]; then set +u; source "$settings"; set -u; fi
    done
fi
if [ -z "${XILINX_VIVADO:-}" ]; then
    echo "bcrnn: no Vivado mounted (set XILINX_VERSION and mount $root): training, tests and FINN's estimate" \
         "flow work; --vivado builds do not" >&2
fi
exec "$@"
