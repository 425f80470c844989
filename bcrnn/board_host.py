"""The host side of the BCRNN board (ULX3S, hw/impl/ulx3s/): wav files in, each 3-s segment's int8 features over the
USB-UART to the board, its label and logits back, the emotion of each file printed (segment posteriors averaged,
as `bcrnn predict` does). `--check` also runs the integer reference and stops at the first logit that differs.

    python -m bcrnn.board_host a.wav b.wav --model runs/<run> --port /dev/ttyUSB0 [--baud 3000000] [--check]

The board must hold a bitstream built from the same packed model (python -m bcrnn.rtl.pnr ulx3s ...). At 3 Mbaud a
segment's 36,000 bytes take ~0.12 s on the line: the serial link, not the network, sets the board's rate.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from bcrnn.rtl.board import DEFAULT_BAUD, decode_result, result_bytes, result_format, segment_bytes


class BoardError(RuntimeError):
    """The board did not answer as the protocol says."""


class Board:
    """A board behind a byte stream with `write(bytes)` and `read(n) -> bytes` (pyserial's Serial, or a stand-in)."""

    def __init__(self, link, packed):
        self.link = link
        self.label_bits, self.classes, self.logit_bits = result_format(packed)
        self.nbytes = result_bytes(self.label_bits + self.classes * self.logit_bits)

    def run_segment(self, codes: np.ndarray) -> tuple[int, np.ndarray]:
        """One segment's int8 codes (channels, frames, bands) -> the board's (label, logits)."""
        self.link.write(segment_bytes(codes))
        answer = self.link.read(self.nbytes)
        if len(answer) != self.nbytes:
            raise BoardError(f"the board sent {len(answer)} of {self.nbytes} bytes for a segment (timeout): is the "
                             "bitstream built from this model, and the baud rate the same?")
        return decode_result(answer, self.label_bits, self.classes, self.logit_bits)


def utterance_codes(ref, samples: np.ndarray, stats=None) -> list[np.ndarray]:
    """A waveform's segments as the int8 codes the network takes (the reference's own preprocessing)."""
    from bcrnn.features import FeatureConfig, log_mel_deltas, segment
    from bcrnn.reference.model import quantize_features

    cfg = FeatureConfig(**ref.meta["feature_config"])
    features = log_mel_deltas(samples, cfg)
    stats = ref.utterance_stats(features, stats)
    return [quantize_features(ref.normalize(s, stats)) for s in segment(features, cfg)]


def classify(board: Board, ref, files: list[str], check: bool = False, out=print) -> int:
    """Print each file's emotion as the board computes it; returns the number of files that could not be read."""
    from bcrnn.features import FeatureConfig, Normalizer, log_mel_deltas
    from bcrnn.speech import read_speech_files

    loaded, failures = read_speech_files(files, out)
    stats = None
    if ref.normalization == "speaker" and loaded:  # as bcrnn predict: the files given are one speaker
        cfg = FeatureConfig(**ref.meta["feature_config"])
        stats = Normalizer.from_features([log_mel_deltas(s, cfg) for _, s in loaded], "speaker")
    for name, samples in loaded:
        logits = []
        for i, codes in enumerate(utterance_codes(ref, samples, stats)):
            label, board_logits = board.run_segment(codes)
            if check:
                expected = ref.forward(codes)
                if not np.array_equal(board_logits, expected) or label != int(np.argmax(expected)):
                    raise BoardError(f"{name} segment {i}: board logits {board_logits.tolist()} (label {label}) != "
                                     f"reference {expected.tolist()}")
            logits.append(board_logits)
        probs = ref.probabilities(np.stack(logits)).mean(axis=0)
        order = np.argsort(-probs)
        scores = "  ".join(f"{ref.classes[i]} {probs[i]:.3f}" for i in order[:3])
        out(f"{name}: {ref.classes[order[0]]}  ({scores}){'  [== reference]' if check else ''}")
    return failures


def main(argv=None, prog: str | None = None) -> int:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", help="wav files")
    p.add_argument("--model", required=True, help="the run folder or model.packed.npz the bitstream was built from")
    p.add_argument("--port", required=True, help="the board's serial device, e.g. /dev/ttyUSB0")
    p.add_argument("--baud", type=int, default=DEFAULT_BAUD, help="as built into the bitstream (default %(default)s)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for a segment's answer")
    p.add_argument("--check", action="store_true", help="compare every segment's logits with the reference")
    args = p.parse_args(argv)
    from bcrnn.reference.model import ReferenceBCRNN
    from bcrnn.reference.packed_file import load_packed
    from bcrnn.run_folder import packed_model

    packed = load_packed(packed_model(args.model))
    try:
        import serial
    except ImportError:
        print("error: pyserial is missing: pip install pyserial==3.5 (requirements.lock)", file=sys.stderr)
        return 2
    try:
        link = serial.Serial(args.port, args.baud, timeout=args.timeout)
    except serial.SerialException as err:
        print(f"error: cannot open {args.port}: {err}", file=sys.stderr)
        return 2
    with link:
        try:
            failures = classify(Board(link, packed), ReferenceBCRNN.from_arrays(packed), args.files, args.check)
        except BoardError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
