"""The conversion entry point: prepare the ModelProto (inline functions, infer shapes) and build the module."""

from __future__ import annotations

import onnx
import torch.fx

from converter.core.output_names import source_output_names
from converter.targets.torch.builder import GraphBuilder, value_types
from converter.targets.torch.registry import load_handlers

__all__ = ["convert", "prepare_model"]


def prepare_model(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` with local functions inlined and value types inferred where onnx can."""
    if model.functions:
        model = onnx.inliner.inline_local_functions(model)
    try:
        return onnx.shape_inference.infer_shapes(model, data_prop=True)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, RuntimeError):
        return model


def convert(model: onnx.ModelProto, named_outputs: bool = False) -> torch.fx.GraphModule:
    """`model` as a GraphModule (see the package docstring for its calling convention)."""
    names = source_output_names(model)
    model = prepare_model(model)
    opsets = {("" if o.domain == "ai.onnx" else o.domain): o.version for o in model.opset_import}
    builder = GraphBuilder(load_handlers(), opsets, value_types(model))
    module, _ = builder.build(model.graph)
    if named_outputs and 0 < len(set(names)) == len(names):
        _name_outputs(module, names)
    return module


def _name_outputs(module: torch.fx.GraphModule, names: list[str]) -> None:
    """Make `module` return {source output name: value} in graph-output order instead of a tensor or a tuple."""
    # an ExportedProgram's output spec and a TorchScript Dict[str, Tensor] keep these keys; a tuple keeps none
    output = next(node for node in module.graph.nodes if node.op == "output")
    values = output.args[0]
    values = list(values) if len(names) > 1 else [values]
    output.args = (dict(zip(names, values, strict=True)),)
    module.recompile()
