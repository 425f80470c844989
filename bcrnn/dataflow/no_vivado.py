"""Running FINN's Python API where Vivado is absent (this machine, CI): the two shims it needs, in one place.

finn-plus checks for Vivado in two spots that do not concern the steps we run without it:
- `exit_buildflow` and the settings read `XILINX_VIVADO`: any path will do, so we set a placeholder that names
  itself (the version in it keeps `finn.xsi`'s version parser quiet);
- `finn.builder.build_dataflow_steps` does `from finn.xsi import SimEngine`, and reading that name runs the
  Vivado simulator check at import time. We bind the XSI names to a function that raises a clear error, so
  importing works and any step that really needs xsim (rtlsim, stitched-IP simulation) fails loudly.

Where Vivado is installed (the Docker image), `XILINX_VIVADO` points at it and nothing here is applied.
"""

from __future__ import annotations

import os
from pathlib import Path

PLACEHOLDER = "/nonexistent/Xilinx/Vivado/2024.2-not-installed"
XSI_NAMES = ("SimEngine", "locate_glbl", "compile_sim_obj", "get_simkernel_so", "load_sim_obj", "reset_rtlsim",
             "close_rtlsim", "rtlsim_multi_io")


class VivadoMissingError(RuntimeError):
    """A step needs Vivado/Vitis (xsim, HLS synthesis, IP integrator), which this machine does not have."""


def vivado_available() -> bool:
    path = os.environ.get("XILINX_VIVADO", "")
    return bool(path) and path != PLACEHOLDER and Path(path, "bin", "vivado").exists()


def _needs_vivado(*_args, **_kwargs):
    raise VivadoMissingError("this step runs Vivado's simulator (xsim through FINN's XSI): run it in the Docker "
                             "image with Vivado mounted (see finn_build/README.md)")


def prepare_finn(build_dir: str | Path) -> bool:
    """Point FINN at `build_dir` for its scratch files and, without Vivado, apply the shims. Call it before
    importing `finn.builder`. Returns whether Vivado is available."""
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("FINN_BUILD_DIR", str(build_dir / "finn_tmp"))
    os.environ.setdefault("FINN_SETTINGS", str(build_dir / "finn_settings.yaml"))
    os.environ.setdefault("NUM_DEFAULT_WORKERS", "1")
    Path(os.environ["FINN_BUILD_DIR"]).mkdir(parents=True, exist_ok=True)
    if vivado_available():
        return True
    os.environ["XILINX_VIVADO"] = PLACEHOLDER
    import finn.xsi as xsi

    for name in XSI_NAMES:
        setattr(xsi, name, _needs_vivado)
    return False
