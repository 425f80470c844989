"""One FINN build of a trained run: prepare the model, build FINN's configuration from a target (board, clock,
segments per second) and run the steps; then the estimate summary (JSON, table, plot).

A target file (finn_build/targets/*.yaml):
    board: Ultra96                 # FINN board name: the bitfile's board (its part comes from FINN's board map)
    fpga_part: xczu3eg-sbva484-1-e # optional, overrides the board's part
    clock_ns: 5.0                  # 200 MHz
    target_fps: 1200               # segments per second FINN's SetFolding (and our LSTM folding) aim at
    mvau_wwidth_max: 36            # FINN's cap on an MVAU's weight-memory width, per PE x SIMD
    folding_config: null           # optional FINN folding JSON (per-layer PE/SIMD/ram_style), applied after
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bcrnn.dataflow.no_vivado import prepare_finn
from bcrnn.plotting import figure
from bcrnn.yaml_files import load_named_yaml

ROOT = Path(__file__).resolve().parents[2]
TARGETS_DIR = ROOT / "finn_build" / "targets"
SEGMENT_SECONDS = 3.0  # one 300-frame segment (10 ms hop)


@dataclass
class BuildTarget:
    name: str
    board: str | None = None
    fpga_part: str | None = None
    clock_ns: float = 5.0
    target_fps: int | None = None
    mvau_wwidth_max: int = 36
    folding_config: str | None = None
    limits: dict = field(default_factory=dict)  # resources of the device, for the report (LUT, BRAM_18K, DSP)

    @classmethod
    def load(cls, name_or_path: str | Path) -> "BuildTarget":
        path, data = load_named_yaml(name_or_path, TARGETS_DIR, "build target",
                                     [f for f in cls.__dataclass_fields__ if f != "name"])
        target = cls(name=path.stem, **data)
        if target.folding_config and not Path(target.folding_config).is_absolute():
            target.folding_config = str((path.parent / target.folding_config).resolve())
        if target.target_fps is None and target.folding_config is None:
            raise ValueError(f"{path}: give target_fps or folding_config")
        return target

    def resolved_part(self) -> str:
        if self.fpga_part:
            return self.fpga_part
        from finn.util.basic import pynq_part_map

        if self.board not in pynq_part_map:
            raise ValueError(f"unknown board {self.board!r}: one of {', '.join(sorted(pynq_part_map))}, or set "
                             "fpga_part")
        return pynq_part_map[self.board]


def prepare_model(run_dir: str | Path, out: str | Path) -> Path:
    """The run's QONNX export with the packed model's integer output affine in its metadata (one file)."""
    from qonnx.core.modelwrapper import ModelWrapper

    from bcrnn.dataflow.steps import attach_output_affine
    from bcrnn.reference.packed_file import load_packed

    run_dir = Path(run_dir)
    onnx_path, packed_path = run_dir / "model.qonnx.onnx", run_dir / "model.packed.npz"
    for p in (onnx_path, packed_path):
        if not p.is_file():
            raise FileNotFoundError(f"{p} missing: RUN_DIR must be a finished BCRNN run of training/train.py "
                                    "(it writes model.qonnx.onnx and model.packed.npz)")
    model = attach_output_affine(ModelWrapper(str(onnx_path)), load_packed(packed_path))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(out))
    return out


def build_config(target: BuildTarget, out_dir: Path, vivado: bool):
    from finn.builder.build_dataflow_config import DataflowBuildConfig, DataflowOutputType, ShellFlowType

    from bcrnn.dataflow.steps import NO_VIVADO_STEPS, VIVADO_STEPS

    outputs = [DataflowOutputType.ESTIMATE_REPORTS]
    if vivado:
        outputs += [DataflowOutputType.STITCHED_IP, DataflowOutputType.BITFILE, DataflowOutputType.PYNQ_DRIVER,
                    DataflowOutputType.DEPLOYMENT_PACKAGE]
    return DataflowBuildConfig(
        output_dir=str(out_dir), synth_clk_period_ns=target.clock_ns, board=target.board,
        fpga_part=target.resolved_part(), shell_flow_type=ShellFlowType.VIVADO_ZYNQ, generate_outputs=outputs,
        target_fps=target.target_fps, mvau_wwidth_max=target.mvau_wwidth_max,
        folding_config_file=Path(target.folding_config) if target.folding_config else None,
        steps=NO_VIVADO_STEPS + (VIVADO_STEPS if vivado else []),
        save_intermediate_models=True, verbose=False)


def write_finn_cli_config(target: BuildTarget, out_dir: Path) -> Path:
    """`finn_build.yaml`: the same build with every step through the bitfile, for FINN's own command line where
    Vivado exists: `finn build <out>/finn_build.yaml <out>/bcrnn_prepared.onnx` (outputs in <out>/vivado)."""
    path = out_dir / "finn_build.yaml"
    path.write_text(build_config(target, out_dir / "vivado", vivado=True).to_yaml())
    return path


def run_build(run_dir: str | Path, target: BuildTarget, out_dir: str | Path, vivado: bool = False) -> Path:
    """Every step of the target's build (those needing Vivado only with `vivado`). Returns the output folder."""
    out_dir = Path(out_dir).resolve()
    have_vivado = prepare_finn(out_dir)
    if vivado and not have_vivado:
        from bcrnn.dataflow.no_vivado import VivadoMissingError

        raise VivadoMissingError("--vivado asks for IP generation, stitched IP and the bitfile, but Vivado is not "
                                 "installed here (XILINX_VIVADO): use the Docker image with Vivado mounted")
    from finn.builder.build_dataflow import build_dataflow_cfg

    if out_dir.exists():
        shutil.rmtree(out_dir / "intermediate_models", ignore_errors=True)
    model = prepare_model(run_dir, out_dir / "bcrnn_prepared.onnx")
    write_finn_cli_config(target, out_dir)
    cfg = build_config(target, out_dir, vivado)
    stdout, stderr = sys.stdout, sys.stderr
    try:
        status = build_dataflow_cfg(str(model), cfg)
    finally:  # FINN routes print() into its log during a build and restores it only on failure
        sys.stdout, sys.stderr = stdout, stderr
    if status != 0:
        raise RuntimeError(f"FINN build failed (status {status}): see {out_dir}/build_dataflow.log")
    return out_dir


def step_model_path(out_dir: Path, step: str | None = None) -> Path:
    """The model FINN saved after `step` (default: the last step run)."""
    folder = Path(out_dir) / "intermediate_models"
    if step is not None:
        path = folder / f"{step}.onnx"
        if not path.is_file():
            raise FileNotFoundError(f"{path} missing (did the build run that step?)")
        return path
    steps = sorted(folder.glob("*.onnx"), key=lambda p: p.stat().st_mtime)
    if not steps:
        raise FileNotFoundError(f"{out_dir}: no intermediate models (did the build run?)")
    return steps[-1]


def summarize(out_dir: str | Path, target: BuildTarget) -> dict:
    """FINN's estimate reports -> per-layer and total LUT, BRAM_18K, DSP, cycles; segments/s and latency."""
    out_dir = Path(out_dir)
    report = out_dir / "report"
    res = json.loads((report / "estimate_layer_resources.json").read_text())
    cycles = json.loads((report / "estimate_layer_cycles.json").read_text())
    layers = []
    for name, r in res.items():
        if name == "total":
            continue
        layers.append({"layer": name, "LUT": int(r.get("LUT", 0)), "BRAM_18K": int(r.get("BRAM_18K", 0)),
                       "URAM": int(r.get("URAM", 0)), "DSP": int(r.get("DSP", 0)),
                       "cycles": int(cycles.get(name, 0))})
    total = {k: sum(layer[k] for layer in layers) for k in ("LUT", "BRAM_18K", "URAM", "DSP")}
    slowest = max(layers, key=lambda x: x["cycles"])
    clock_hz = 1e9 / target.clock_ns
    rate = clock_hz / slowest["cycles"]
    lstm = [layer for layer in layers if layer["layer"].startswith("BinaryLSTM")]
    summary = {
        "target": target.name, "board": target.board, "fpga_part": target.resolved_part(),
        "clock_mhz": round(clock_hz / 1e6, 3), "target_fps": target.target_fps, "layers": layers, "total": total,
        "bottleneck": slowest["layer"], "bottleneck_cycles": slowest["cycles"],
        "segments_per_second": round(rate, 1), "times_real_time": round(rate * SEGMENT_SECONDS, 1),
        "latency_ms_no_fifos": round(sum(layer["cycles"] for layer in layers) / clock_hz * 1e3, 3),
        "lstm_share": {k: round(sum(x[k] for x in lstm) / total[k], 3) if total[k] else 0.0
                       for k in ("LUT", "BRAM_18K", "DSP")},
        "limits": target.limits,
        "fits": {k: total[k] <= v for k, v in target.limits.items()},
        "source": "FINN analytical estimates (no synthesis, FIFOs not included)",
    }
    (out_dir / "bcrnn_estimates.json").write_text(json.dumps(summary, indent=1))
    return summary


def _device_row(summary: dict) -> str:
    """The device's limits as the last row of a resource table (format_table, format_ensemble_table)."""
    lim = summary["limits"]
    return (f"{'device (' + summary['fpga_part'] + ')':34s} {lim.get('LUT', 0):8,d} {lim.get('BRAM_18K', 0):7d} "
            f"{lim.get('DSP', 0):5d}")


def format_table(summary: dict) -> str:
    lines = [f"{'layer':34s} {'LUT':>8s} {'BRAM18':>7s} {'DSP':>5s} {'cycles':>10s}"]
    for layer in summary["layers"]:
        lines.append(f"{layer['layer']:34s} {layer['LUT']:8,d} {layer['BRAM_18K']:7d} {layer['DSP']:5d} "
                     f"{layer['cycles']:10,d}")
    t = summary["total"]
    lines.append(f"{'total':34s} {t['LUT']:8,d} {t['BRAM_18K']:7d} {t['DSP']:5d}")
    if summary["limits"]:
        lines.append(_device_row(summary))
    share = summary["lstm_share"]
    lines.append(f"{summary['segments_per_second']:,.0f} segments/s at {summary['clock_mhz']:g} MHz "
                 f"({summary['times_real_time']:,.0f}x real time), bottleneck {summary['bottleneck']} "
                 f"({summary['bottleneck_cycles']:,d} cycles); latency {summary['latency_ms_no_fifos']} ms without "
                 f"FIFOs; BinaryLSTM share: {share['LUT']:.0%} LUT, {share['BRAM_18K']:.0%} BRAM, "
                 f"{share['DSP']:.0%} DSP")
    return "\n".join(lines)


def ensemble_summary(members: dict[str, dict], target: BuildTarget) -> dict:
    """Members of an ensemble as dataflows side by side on one device, fed the same input stream: resources add up,
    the rate is the slowest member's. `members`: member name -> its `summarize` output for `target`. The fan-out
    of the input stream and the host's averaging of the members' posteriors (from each dataflow's logits, as
    bcrnn.ensemble scores) are not in FINN's estimates."""
    if not members:
        raise ValueError("an ensemble needs at least one member")
    wrong = [name for name, s in members.items() if s["target"] != target.name]
    if wrong:
        raise ValueError(f"members {wrong} were not built for target {target.name!r}")
    total = {k: sum(s["total"][k] for s in members.values()) for k in ("LUT", "BRAM_18K", "URAM", "DSP")}
    rate = min(s["segments_per_second"] for s in members.values())
    return {
        "target": target.name, "fpga_part": target.resolved_part(), "clock_mhz": round(1e3 / target.clock_ns, 3),
        "members": {name: {"total": s["total"], "segments_per_second": s["segments_per_second"],
                           "bottleneck": s["bottleneck"]} for name, s in members.items()},
        "total": total, "segments_per_second": rate, "times_real_time": round(rate * SEGMENT_SECONDS, 1),
        "limits": target.limits, "fits": {k: total[k] <= v for k, v in target.limits.items()},
        "source": "sum of FINN's analytical estimates of the members' dataflows (no synthesis, FIFOs and the input "
                  "stream's fan-out not included)",
    }


def format_ensemble_table(summary: dict) -> str:
    lines = [f"{'member':34s} {'LUT':>8s} {'BRAM18':>7s} {'DSP':>5s} {'segments/s':>11s}"]
    for name, m in summary["members"].items():
        lines.append(f"{name:34s} {m['total']['LUT']:8,d} {m['total']['BRAM_18K']:7d} {m['total']['DSP']:5d} "
                     f"{m['segments_per_second']:11,.0f}")
    t, lim = summary["total"], summary["limits"]
    lines.append(f"{'ensemble (side by side)':34s} {t['LUT']:8,d} {t['BRAM_18K']:7d} {t['DSP']:5d} "
                 f"{summary['segments_per_second']:11,.0f}")
    if lim:
        lines.append(_device_row(summary))
        over = [k for k, ok in summary["fits"].items() if not ok]
        lines.append("fits the device" if not over else f"does NOT fit the device: {', '.join(over)} over")
    shared = summary.get("shared_input_stream")
    if shared is not None:
        lines.append("one input stream feeds every member (identical int8 codes on the verified segments)" if shared
                     else "the members read different input codes: one input stream each")
    return "\n".join(lines)


def plot_estimates(summaries: list[dict], path: str | Path) -> Path:
    """Per-layer LUT and cycles of each build target side by side (log scale for cycles), the LSTM highlighted."""
    path = Path(path)
    size = (12, 3.2 * len(summaries))
    with figure(path, nrows=len(summaries), ncols=2, figsize=size, squeeze=False) as (fig, axes):
        for row, s in zip(axes, summaries):
            names = [layer["layer"].replace("_hls", "").replace("_rtl", "") for layer in s["layers"]]
            colors = ["tab:red" if n.startswith("BinaryLSTM") else "tab:blue" for n in names]
            row[0].barh(names, [layer["LUT"] for layer in s["layers"]], color=colors)
            row[0].set_xlabel("LUT (FINN estimate)")
            row[0].set_title(f"{s['target']} ({s['fpga_part']}): {s['total']['LUT']:,} LUT in all")
            row[1].barh(names, [max(layer["cycles"], 1) for layer in s["layers"]], color=colors)
            row[1].set_xscale("log")
            row[1].axvline(s["bottleneck_cycles"], color="k", lw=0.8, ls="--")
            row[1].set_xlabel("cycles per 3-s segment")
            row[1].set_title(f"{s['segments_per_second']:,.0f} segments/s at {s['clock_mhz']:g} MHz")
            for ax in row:
                ax.invert_yaxis()
                ax.tick_params(axis="y", labelsize=7)
    return path


def plot_ensemble(summaries: list[dict], path: str | Path) -> Path:
    """Each target's device fill by an ensemble: per resource, the members' shares stacked against 100%."""
    path = Path(path)
    size = (8, 1.2 + 1.0 * len(summaries))
    with figure(path, nrows=len(summaries), ncols=1, figsize=size, squeeze=False) as (fig, axes):
        for ax, s in zip(axes[:, 0], summaries):
            resources = [k for k in ("LUT", "BRAM_18K", "DSP") if s["limits"].get(k)]
            left = [0.0] * len(resources)
            for name, member in s["members"].items():
                share = [100 * member["total"][k] / s["limits"][k] for k in resources]
                ax.barh(resources, share, left=left, label=name)
                left = [a + b for a, b in zip(left, share)]
            ax.axvline(100, color="k", lw=1)
            ax.set_xlim(0, max(110, max(left) + 5))
            ax.invert_yaxis()
            ax.set_xlabel("% of the device (FINN estimate)")
            ax.set_title(f"{s['target']} ({s['fpga_part']}): {s['segments_per_second']:,.0f} segments/s",
                         fontsize=9)
            ax.legend(fontsize=7, loc="lower right")
    return path
