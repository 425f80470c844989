"""A dependency-free C99 engine generated from a packed model: `export` writes the sources (`bcrnn export-c`),
`CEngine` builds and calls them from Python. Bit-exact with bcrnn.reference; docs/c_engine.md."""

from bcrnn.c_engine.export import CModel, ModelNotSupported, generate, write_sources
from bcrnn.c_engine.wrapper import KERNELS, CEngine, CEngineError, available_kernels

__all__ = ["CEngine", "CEngineError", "CModel", "KERNELS", "ModelNotSupported", "available_kernels", "generate",
           "write_sources"]
