"""The ULX3S board top driven through its serial pins only, on real Emo-DB segments (Verilator): every segment's
label and logits as the board sends them back equal the integer reference; a segment cut short is dropped after
the idle time and the segments after it are answered correctly. The protocol helpers are checked on their own."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import trained_like

from bcrnn.rtl.board import board_parameters, clks_per_bit, decode_result, segment_bytes
from bcrnn.rtl.memfile import pack_word


def test_segment_bytes_are_pixel_major_with_channels_together():
    codes = np.arange(2 * 3 * 4).reshape(2, 3, 4).astype(np.int8)  # channels, frames, bands
    data = segment_bytes(codes)
    assert len(data) == codes.size
    assert list(data[:2]) == [codes[0, 0, 0], codes[1, 0, 0]] and data[2] == codes[0, 0, 1]
    assert np.frombuffer(segment_bytes(-codes), np.int8)[3] == -codes[1, 0, 1]
    with pytest.raises(ValueError, match="integer array"):
        segment_bytes(np.zeros((3, 4), np.float32))


def test_decode_result_inverts_the_output_word():
    logits = np.array([5, -3, 0, 127, -128, 1, -1])
    word = 4 | (pack_word(logits, 12) << 3)
    label, got = decode_result(word.to_bytes((3 + 7 * 12 + 7) // 8, "little"), 3, 7, 12)
    assert label == 4 and np.array_equal(got, logits)


def test_uart_bit_time_is_checked():
    assert clks_per_bit(100.0, 3_000_000) == 33
    assert clks_per_bit(25.0, 115_200) == 217
    with pytest.raises(ValueError, match="within 2 %"):
        clks_per_bit(10.0, 3_000_000)
    description = {"frames": 300, "pixel_channels": 3, "label_bits": 3, "classes": 7, "logit_bits": 20,
                   "blocks": {"frontend_chain": {"F": 40}}}
    assert board_parameters(description, 100.0) == {"C": 3, "P": 12000, "OUT_BITS": 143, "LABEL_BITS": 3,
                                                    "CLKS_PER_BIT": 33}


@pytest.mark.slow
@pytest.mark.sim
def test_board_answers_real_segments_over_uart(emodb_segments, tmp_path):
    from bcrnn.packing import pack_model
    from bcrnn.rtl.top import Folding
    from sim.board import simulate_board

    fs, norm, x = emodb_segments
    packed = pack_model(trained_like({}, x), norm.to_dict(), fs.classes, fs.config.__dict__)
    out = simulate_board(packed, x[:1], Folding.load("tiny"), "verilator", tmp_path)  # ~40 s per segment
    assert out["tests_passed"] == 1
    assert out["segments"] == 1 and out["bytes_sent"] == 3 * 300 * 40 * 5 // 4 + 1
    assert out["values_compared"] == 8


class ReferenceLink:
    """A stand-in board on the host's side of the serial protocol: it decodes each segment's bytes, runs the integer
    reference and answers with the output word (the RTL's side of the same protocol is the bench above)."""

    def __init__(self, packed, corrupt: bool = False, mute: bool = False):
        from bcrnn.reference.model import ReferenceBCRNN
        from bcrnn.rtl.board import result_format

        self.ref, self.corrupt, self.mute = ReferenceBCRNN.from_arrays(packed), corrupt, mute
        self.label_bits, self.classes, self.logit_bits = result_format(packed)
        self.pending = b""

    def write(self, data: bytes) -> None:
        codes = np.frombuffer(data, np.int8).reshape(300, 40, 3).transpose(2, 0, 1)
        logits = self.ref.forward(codes).astype(np.int64)
        if self.corrupt:
            logits[0] += 1
        word = int(np.argmax(logits)) | (pack_word(logits, self.logit_bits) << self.label_bits)
        out_bits = self.label_bits + self.classes * self.logit_bits
        self.pending = b"" if self.mute else word.to_bytes((out_bits + 7) // 8, "little")

    def read(self, n: int) -> bytes:
        out, self.pending = self.pending[:n], self.pending[n:]
        return out


def test_host_script_classifies_wav_files_through_the_protocol(emodb_segments, emodb_dir, tmp_path):
    import soundfile

    from bcrnn.board_host import Board, BoardError, classify
    from bcrnn.packing import pack_model
    from bcrnn.reference.model import ReferenceBCRNN

    fs, norm, x = emodb_segments
    packed = pack_model(trained_like({}, x), norm.to_dict(), fs.classes, fs.config.__dict__)
    ref = ReferenceBCRNN.from_arrays(packed)
    wavs = sorted((emodb_dir / "wav").glob("03*.wav") if (emodb_dir / "wav").is_dir() else emodb_dir.glob("03*"))[:2]
    silence = tmp_path / "silence.wav"
    soundfile.write(silence, np.zeros(16000, np.float32), 16000)
    lines = []
    files = [str(w) for w in wavs] + [str(silence)]
    assert classify(Board(ReferenceLink(packed), packed), ref, files, check=True, out=lines.append) == 0
    by_file = {line.split(": ")[0]: line.split(": ", 1)[1] for line in lines}
    assert len(lines) == 3 and "no speech found" in by_file[str(silence)]
    for wav in wavs:
        assert by_file[str(wav)].split()[0] in fs.classes and "[== reference]" in by_file[str(wav)]
    with pytest.raises(BoardError, match="board logits"):
        classify(Board(ReferenceLink(packed, corrupt=True), packed), ref, files[:1], check=True, out=lines.append)
    with pytest.raises(BoardError, match="timeout"):
        classify(Board(ReferenceLink(packed, mute=True), packed), ref, files[:1], out=lines.append)
