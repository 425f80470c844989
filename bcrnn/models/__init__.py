"""CRNN (full precision) and BCRNN (Brevitas, 1-bit) models built from one `CRNNConfig`."""

from bcrnn.models.crnn import CRNN, PRESETS, CRNNConfig, build_model, init_from_full_precision, load_checkpoint

__all__ = ["CRNN", "CRNNConfig", "PRESETS", "build_model", "init_from_full_precision", "load_checkpoint"]
