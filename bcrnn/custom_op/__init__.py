"""ONNX domain `bcrnn.custom_op`: this project's custom ops, executable by qonnx (which imports the domain as a
python module and looks ops up in `custom_op`)."""

from bcrnn.custom_op.binary_lstm import BinaryLSTM

custom_op = {"BinaryLSTM": BinaryLSTM}

__all__ = ["BinaryLSTM", "custom_op"]
