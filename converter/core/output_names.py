"""What each graph output is called in its source, where ONNX could not keep the name (recorded in metadata).

An ONNX value name is unique in a graph, so an output named like an input (`forward(sample)` returning
{"sample": ...}) is `sample_1` in the ONNX. The model's metadata_props keep ``graphtool.output_names``, a JSON
object {ONNX name: source name}, and every target names the output after the source again: SavedModel signature
keys, pt2 and TorchScript dict keys and served names, where inputs and outputs are separate namespaces.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import onnx

__all__ = ["OUTPUT_NAMES_KEY", "source_output_names", "source_outputs", "recorded_output_names", "record_output_names"]

OUTPUT_NAMES_KEY = "graphtool.output_names"


def recorded_output_names(model: onnx.ModelProto) -> dict[str, str]:
    """{ONNX output name: source name} for the outputs ONNX had to rename; {} when none was (or the JSON is bad)."""
    for prop in model.metadata_props:
        if prop.key == OUTPUT_NAMES_KEY:
            try:
                names = json.loads(prop.value)
            except ValueError:
                return {}
            return {str(k): str(v) for k, v in names.items()} if isinstance(names, dict) else {}
    return {}


def source_output_names(model: onnx.ModelProto) -> list[str]:
    """The graph outputs' names in their source, in graph-output order (an output's own name where it kept it)."""
    recorded = recorded_output_names(model)
    names = [recorded.get(output.name, output.name) for output in model.graph.output]
    return names if len(set(names)) == len(names) else [output.name for output in model.graph.output]


def source_outputs(model: onnx.ModelProto) -> dict[str, onnx.ValueInfoProto]:
    """The graph outputs by their source names, in graph-output order."""
    return dict(zip(source_output_names(model), model.graph.output, strict=True))


def record_output_names(model: onnx.ModelProto, names: Mapping[str, str]) -> None:
    """Keep {ONNX output name: source name} in the model's metadata, for the names that differ; none: no entry."""
    kept = {onnx_name: source for onnx_name, source in names.items() if onnx_name != source}
    props = [prop for prop in model.metadata_props if prop.key != OUTPUT_NAMES_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(props)
    if kept:
        model.metadata_props.add(key=OUTPUT_NAMES_KEY, value=json.dumps(kept, sort_keys=True))
