"""graphtool: convert models between PyTorch and TensorFlow through ONNX, and prove them unchanged."""

from __future__ import annotations

from typing import Any

__all__ = ["load", "inspect", "convert", "validate", "validate_endpoint", "diff", "render", "view", "package",
           "serve", "batch", "audit", "LoadOptions"]


def __getattr__(name: str) -> Any:
    # The API pulls in onnx and numpy; `import converter` (and `graphtool --help`) should not pay for that.
    if name == "__version__":  # the installed distribution's, read when asked for (converter.core.version)
        from converter.core.version import version

        return version()
    if name in __all__:
        from converter import api

        return getattr(api, name)
    raise AttributeError(f"module 'converter' has no attribute '{name}'")
