"""ONNX -> PyTorch: a ModelProto becomes a torch.fx.GraphModule whose forward takes the graph inputs in order.

The module returns one tensor for a single-output graph and a tuple, in graph-output order, otherwise; with
`named_outputs`, a dict {output name: value} in graph-output order, named after the source where ONNX had to
rename an output (converter.core.output_names): what pt2 and TorchScript files keep.
Initializers become parameters (floating point, requires_grad=False) or buffers named after them; each FX
node carries the ONNX node it came from in `node.meta["onnx_node"]` (and `"onnx_op"`, `"onnx_output"`).
Layouts are kept as in the ONNX graph. torch is imported only when a conversion runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import onnx

from converter.core.errors import MissingExtraError

if TYPE_CHECKING:
    import torch.fx

__all__ = ["to_graph_module", "supported_ops"]


def to_graph_module(model: onnx.ModelProto, *, named_outputs: bool = False) -> torch.fx.GraphModule:
    """Convert `model`; raises UnsupportedOpError naming the first node it cannot convert."""
    _require_torch()
    from converter.targets.torch.convert import convert

    return convert(model, named_outputs)


def supported_ops(domain: str = "") -> list[str]:
    """The op types of `domain` that have a handler."""
    _require_torch()
    from converter.targets.torch.registry import load_handlers

    return load_handlers().op_types(domain)


def _require_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError("torch", "torch") from exc
