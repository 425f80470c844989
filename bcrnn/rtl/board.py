"""The BCRNN on a ULX3S board (LFE5U-85F): the board top's parameters and files, and the serial protocol a host
speaks to it (hw/rtl/bcrnn_uart.sv).

Host -> board: each 3-s segment's int8 feature codes, pixel after pixel (time-major, then frequency), the channels
of a pixel in order, one byte each. Board -> host: per segment, bcrnn_top's output word (label in the low bits, then
the logits) as ceil(bits / 8) bytes, least significant first.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from bcrnn.rtl.memfile import unpack_word

BOARD_DIR = Path(__file__).resolve().parents[2] / "hw" / "impl" / "ulx3s"
FILELIST = BOARD_DIR / "ulx3s_top.f"
OSCILLATOR_MHZ = 25.0           # the ULX3S's oscillator
DEFAULT_BAUD = 3_000_000        # the FT231X's highest rate


def clks_per_bit(mhz: float, baud: int) -> int:
    """UART bit time in clock cycles; refused when the rate it gives is more than 2 % off (8N1 tolerates ~4 %)."""
    cycles = round(mhz * 1e6 / baud)
    if cycles < 4 or abs(mhz * 1e6 / cycles - baud) > 0.02 * baud:
        raise ValueError(f"{baud} baud cannot be made from {mhz:g} MHz within 2 % (cycles per bit {cycles})")
    return cycles


def board_parameters(description: dict, mhz: float, baud: int = DEFAULT_BAUD) -> dict:
    """ulx3s_top's (and bcrnn_uart's) parameters for a generated bcrnn_top (its description, bcrnn.rtl.top)."""
    frames = description["frames"]
    bands = description["blocks"]["frontend_chain"]["F"]
    return {"C": description["pixel_channels"], "P": frames * bands,
            "OUT_BITS": description["label_bits"] + description["classes"] * description["logit_bits"],
            "LABEL_BITS": description["label_bits"], "CLKS_PER_BIT": clks_per_bit(mhz, baud)}


def write_pll(out_dir: Path, mhz: float) -> Path:
    """pll.v: the ECP5 PLL from the 25 MHz oscillator to `mhz`, by ecppll (yowasp-ecppll); checks it hits `mhz`."""
    from bcrnn.rtl.pnr import ToolError, tool

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([tool("yowasp-ecppll"), "-i", f"{OSCILLATOR_MHZ:g}", "-o", f"{mhz:g}", "-n", "pll",
                           "--clkin_name", "clkin", "--clkout0_name", "clkout0", "-f", "pll.v"],
                          cwd=out_dir, capture_output=True, text=True)
    if proc.returncode != 0 or not (out_dir / "pll.v").is_file():
        raise ToolError(f"ecppll failed for {mhz:g} MHz:\n{proc.stdout}{proc.stderr}")
    achieved = [line for line in proc.stdout.splitlines() if line.startswith("clkout0 frequency:")]
    if not achieved or abs(float(achieved[0].split(":")[1].split()[0]) - mhz) > 1e-6:
        raise ToolError(f"the ECP5 PLL cannot make exactly {mhz:g} MHz from 25 MHz ({achieved}): pick another clock")
    return out_dir / "pll.v"


def board_writer(packed, folding: str = "ecp5-wide", mhz: float = 100.0, baud: int = DEFAULT_BAUD,
                 out_dir=None) -> dict:
    """For the place-and-route flow (hw/impl/blocks-ecp5.yaml): bcrnn_top and pll.v generated into `out_dir`, the
    board top's parameters, and the generated files as extra sources."""
    from bcrnn.rtl.top import Folding, generate

    out_dir = Path(out_dir)
    description = generate(packed, Folding.load(folding), out_dir, path_base=out_dir.parent)
    pll = write_pll(out_dir, mhz)
    return {**board_parameters(description, mhz, baud), "__extra_sources__": [description["top"], str(pll)]}


# ------------------------------------------------------------------------------------------ the serial protocol

def segment_bytes(codes: np.ndarray) -> bytes:
    """One segment's int8 codes (channels, frames, bands) as the board takes them."""
    codes = np.asarray(codes)
    if codes.ndim != 3 or codes.dtype.kind not in "iu":
        raise ValueError(f"codes of one segment: an integer array (channels, frames, bands), not {codes.shape}")
    return codes.transpose(1, 2, 0).astype(np.int8).tobytes()


def result_bytes(out_bits: int) -> int:
    return (out_bits + 7) // 8


def result_format(packed) -> tuple[int, int, int]:
    """(label bits, classes, logit bits) of the board built from a packed model (the widths bcrnn.rtl.head_files
    gives output_argmax)."""
    from bcrnn.rtl.head_files import label_width, logit_range, signed_width

    classes = int(np.asarray(packed["out_weight_bits"]).shape[0])
    return label_width(classes), classes, signed_width(*logit_range(packed))


def decode_result(data: bytes, label_bits: int, classes: int, logit_bits: int) -> tuple[int, np.ndarray]:
    """The board's answer for one segment -> (label, logits)."""
    word = int.from_bytes(data, "little")
    label = word & ((1 << label_bits) - 1)
    return label, unpack_word(word >> label_bits, classes, logit_bits, signed=True)
