"""What the ONNX low-precision builds share: the float model in memory with every node named, and its atomic write."""

from __future__ import annotations

from pathlib import Path

import onnx

from converter.core import external_data
from converter.core.atomic import atomic_path
from converter.core.errors import GraphtoolError
from converter.core.onnx_utils import unique_name
from converter.core.types import LoadedModel

__all__ = ["PROTOBUF_LIMIT", "float_model", "named_nodes", "save_atomic"]

PROTOBUF_LIMIT = 2**31 - 1  # a ModelProto over this cannot be serialized; onnx's shape inference needs it serialized


def named_nodes(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model`, or a copy whose unnamed top-level nodes are named OPTYPE_INDEX: keep_float names nodes by name."""
    if all(node.name for node in model.graph.node):
        return model
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    taken = {node.name for node in copy.graph.node if node.name}
    for index, node in enumerate(copy.graph.node):
        if not node.name:
            node.name = unique_name(f"{node.op_type}_{index}", taken)
    return copy


def float_model(loaded: LoadedModel, precision: str) -> onnx.ModelProto:
    """The loaded float model with inline weights and named nodes, or a one-line refusal for one over 2 GB."""
    model = loaded.model
    if external_data.uses_external_data(model):
        size = external_data.weight_bytes(model)
        if size >= PROTOBUF_LIMIT or loaded.weights_dir is None:
            raise GraphtoolError(
                f"--precision {precision}: the model's weights ({size / 2**30:.1f} GiB) are over the 2 GB an ONNX "
                "file holds inline, and this build converts them in memory; build it in fp32, or export a smaller "
                "model")
        model = onnx.ModelProto()
        model.CopyFrom(loaded.model)
        onnx.load_external_data_for_model(model, str(loaded.weights_dir))
    return named_nodes(model)


def save_atomic(model: onnx.ModelProto, path: Path, force: bool) -> None:
    """Write `model` to `path` whole or not at all (a staging file beside it, renamed into place)."""
    with atomic_path(path, force) as staging:
        onnx.save_model(model, str(staging))
