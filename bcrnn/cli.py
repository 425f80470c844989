"""The `bcrnn` command: the whole pipeline, from training a binarized CRNN to its FPGA board.

Each subcommand is the `main` of the module that does the work (that module's parser is the only one), imported
only when that subcommand runs: `bcrnn predict` stays numpy only, and `bcrnn --help` imports nothing heavy."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

# subcommand -> (module with main(argv, prog), one-line description); sim.* live beside the package, in the checkout
COMMANDS = {
    "train": ("bcrnn.train_command", "train and score a CRNN or BCRNN by speaker-independent cross-validation"),
    "reproduce": ("bcrnn.reproduce", "train what a results table needs from the named recipes, in order and "
                                     "resumably, and print it"),
    "ensemble": ("bcrnn.ensemble", "score an ensemble of BCRNN runs of the same folds with the integer reference"),
    "summarize": ("bcrnn.run_summary", "mean +- std of runs' finished folds: test UAR / WA and validation UAR"),
    "repetitions": ("bcrnn.repetitions", "a recipe over repeated cross-validations, against a reference recipe"),
    "export": ("bcrnn.run_export", "export a run's model to QONNX and check it against the integer reference"),
    "export-c": ("bcrnn.c_engine.export", "the packed model as a dependency-free C99 engine, bit-exact with the "
                                          "integer reference"),
    "c-emulate": ("bcrnn.c_engine.cross", "the C engine cross-built for AArch64 and Cortex-M4/M7, run under QEMU "
                                          "against the integer reference; Cortex-M flash and RAM"),
    "verify": ("bcrnn.verify", "integer reference vs the deployed Brevitas model, layer by layer; then the QONNX "
                               "export"),
    "predict": ("bcrnn.predict", "emotion of wav files, with the packed integer model (numpy only)"),
    "enrol": ("bcrnn.enrol", "a model's thresholds from one speaker's own files (speaker batch norm; AdaBN for "
                             "other models)"),
    "finn": ("bcrnn.dataflow.build", "FINN build of a BCRNN run: estimates, HLS/RTL code, HW graph vs reference"),
    "rtl-sim": ("sim.top", "simulate the open RTL bcrnn_top on a run's utterances, bit-exact against the reference"),
    "synth": ("bcrnn.rtl.synth", "Yosys resource estimates of the RTL blocks (synth_xilinx, not Vivado)"),
    "pnr": ("bcrnn.rtl.pnr", "place and route on a Lattice ECP5 (Yosys, nextpnr, ecppack): Fmax, resources"),
    "gate-level": ("sim.gate_level", "simulate the placed ECP5 netlist of bcrnn_top against the reference"),
    "board": ("bcrnn.board_host", "classify wav files on a ULX3S board over its serial port"),
}


def command_main(name: str):
    """The `main` of a subcommand's module."""
    module = COMMANDS[name][0]
    if not module.startswith("bcrnn."):
        checkout = str(Path(__file__).resolve().parents[1])
        if checkout not in sys.path:
            sys.path.insert(0, checkout)
    return importlib.import_module(module).main


def parser() -> argparse.ArgumentParser:
    """The top level only: the subcommands and what each does (each parses its own arguments)."""
    p = argparse.ArgumentParser(prog="bcrnn", description=__doc__.split("\n\n")[0],
                                epilog="bcrnn COMMAND --help: the options of one command")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, description) in COMMANDS.items():
        sub.add_parser(name, help=description, add_help=False)
    return p


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in COMMANDS:
        return command_main(argv[0])(argv[1:], prog=f"bcrnn {argv[0]}")
    parser().parse_args(argv)  # --help, or the error that names the commands
    return 2


if __name__ == "__main__":
    sys.exit(main())
