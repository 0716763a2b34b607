"""TensorFlow sources: read a SavedModel, Keras file or tf.function, and convert it to ONNX with tf2onnx."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import onnx

from converter.core.dynamic import fixed_dims
from converter.core.errors import GraphtoolError, first_line
from converter.core.frameworks import class_names, quiet, require
from converter.core.indices import index_bounds
from converter.core.inputs import InputSpec, example_inputs, given_specs, merge_specs
from converter.core.onnx_utils import iter_nodes, symbolic_dim_name
from converter.core.types import LoadedModel, LoadOptions, Reference, SourceInfo
from converter.sources import keras_structure
from converter.sources.formats import Format
from converter.sources.normalize import DEFAULT_OPSET, normalize
from converter.sources.tf2onnx_gaps import custom_op_handlers, without_xla_marks, xla_marked_calls

__all__ = ["TfFunction", "load_tf", "tf_reference", "read_tf", "from_object", "to_onnx"]

_SUFFIX = re.compile(r"_\d+$")
_GENERATED = re.compile(r"^[A-Za-z]+__\d+$")
_CALL_OPS = frozenset({"StatefulPartitionedCall", "PartitionedCall"})  # inlined calls: not a scope of the model


@dataclass
class TfFunction:
    """A callable TF model taking inputs positionally, with its input specs and output names."""

    call: Any
    declared: list[InputSpec]
    output_names: list[str] | None = None  # None: learned from the first call
    owner: Any = None  # what holds the variables (a loaded SavedModel): it must outlive `call`
    scope_names: frozenset[str] = frozenset()  # Keras model and layer names, to undo trace-time suffixes
    expected: list[str] | None = None  # input names known without shapes (a subclassed model's call())
    audit_notes: tuple[str, ...] = ()  # what --trust-code let through (converter.sources.audit)


def load_tf(model: TfFunction, fmt: Format, origin: str, options: LoadOptions) -> LoadedModel:
    """Merge the declared and given input specs, convert with tf2onnx and normalize."""
    specs = _input_specs(model, origin, options)
    if options.static:  # every dim as the data's: only the shapes count here
        specs = fixed_dims(specs, example_inputs(specs, options)[0])
    opset = options.opset or DEFAULT_OPSET
    proto, outputs, reference = to_onnx(model, specs, opset, origin)
    proto = normalize(proto, opset=opset, input_names=[s.name for s in specs], output_names=outputs, origin=origin,
                      value_shapes=options.value_shapes)
    feeds, notes = example_inputs(specs, options, index_bounds(proto))
    notes += model.audit_notes
    return LoadedModel(proto, SourceInfo(origin, fmt.value, "tensorflow", "tf2onnx", notes=notes), feeds, reference)


def tf_reference(model: TfFunction, fmt: Format, origin: str, options: LoadOptions) -> Reference:
    """The model run as it is, in TensorFlow (no conversion): what `graphtool bench` times as the source."""
    return _reference(model.call, [s.name for s in _input_specs(model, origin, options)])


def _input_specs(model: TfFunction, origin: str, options: LoadOptions) -> list[InputSpec]:
    """The declared input specs merged with --input's; an error when neither gives them."""
    given = given_specs(options)
    if not model.declared and not given:
        names = ", ".join(model.expected or ()) or "each input"
        example = (model.expected or ["x"])[0]
        raise GraphtoolError(f"{origin}: the input signature is unknown; pass --input NAME:DIMS[:DTYPE] for {names} "
                             f"(e.g. --input {example}:batch,8, a name for each dynamic dim)")
    unknown = [g.name for g in given if model.expected and g.name not in model.expected]
    if unknown:
        raise GraphtoolError(f"--input {unknown[0]}: the model has no input '{unknown[0]}'; its inputs are "
                             f"{', '.join(model.expected or ())}")
    return merge_specs(model.declared, given) if model.declared else given


def read_tf(fmt: Format, path: str, signature: str, trust_code: bool, custom_objects: str | None = None) -> TfFunction:
    """A SavedModel signature, or a Keras .keras / .h5 file (safe mode unless trust_code)."""
    tf = require("tensorflow", "tf")
    if fmt is Format.SAVEDMODEL:
        from converter.sources.audit import enforce
        from converter.sources.audit import tf as audit_tf

        notes = enforce(audit_tf.audit_savedmodel(path), trust_code)  # before loading runs any of its functions
        try:
            with quiet():
                loaded = tf.saved_model.load(path)
        except Exception as error:
            raise GraphtoolError(f"{path}: not a loadable SavedModel ({first_line(error)})") from error
        return replace(_from_signature(loaded, signature, path), audit_notes=notes)
    keras = require("keras", "tf")
    custom = _custom_objects(custom_objects, trust_code)
    try:
        with quiet():
            model = keras.models.load_model(path, compile=False, safe_mode=not trust_code, custom_objects=custom)
    except Exception as error:
        message = first_line(error)
        if "safe_mode" in message or "lambda" in message.lower():
            raise GraphtoolError(
                f"{path}: the model carries Python code (a Lambda layer) that loading would run; "
                "pass --trust-code only if you trust its source"
            ) from error
        full = str(error).lower()
        if any(text in full for text in ("could not locate", "could not be deserialized", "unknown layer")):
            raise GraphtoolError(
                f"{path}: the model uses a custom class Keras does not know ({message}); pass --custom-objects "
                "file.py (or a module name) that defines it, with --trust-code"
            ) from error
        raise GraphtoolError(f"{path}: not a loadable Keras model ({message})") from error
    return _from_keras(model)


def _custom_objects(target: str | None, trust_code: bool) -> dict[str, Any] | None:
    """Import the user's module of custom classes (importing registers them) and hand its classes to Keras."""
    if target is None:
        return None
    if not trust_code:
        raise GraphtoolError(f"--custom-objects {target}: importing it runs its code; pass --trust-code as well "
                             "if you trust it")
    from converter.sources import pyref

    module = pyref.load_module(target, f"--custom-objects {target}")
    return {name: obj for name, obj in vars(module).items() if isinstance(obj, type) and not name.startswith("_")}


def from_object(obj: Any, origin: str) -> TfFunction:
    """A keras.Model, a tf.Module with a traced __call__, or a tf.function, from a Python reference."""
    names = class_names(obj)
    if any(n.startswith("keras.") for n in names):
        if _keras_inputs(obj):
            return _from_keras(obj)
        return _from_subclassed(obj)
    function = obj.__call__ if "tensorflow.python.module.module.Module" in names else obj
    signature = getattr(function, "input_signature", None)
    declared = []
    if signature:
        for index, spec in enumerate(signature):
            name = spec.name or f"input_{index}"
            declared.append(InputSpec(name, _dims(spec.shape, name), spec.dtype.name))
    if not callable(function):
        raise GraphtoolError(f"{origin}: expected a keras.Model, tf.Module or tf.function, got {type(obj).__name__}")
    return TfFunction(function, declared)


def to_onnx(
    model: TfFunction, specs: Sequence[InputSpec], opset: int, origin: str
) -> tuple[onnx.ModelProto, list[str], Reference]:
    """Convert with tf2onnx; returns the model, the output names and a reference runner."""
    tf = require("tensorflow", "tf")
    tf2onnx = require("tf2onnx", "tf")
    specs = merge_specs(model.declared, specs) if model.declared else list(specs)
    signature = [tf.TensorSpec([d if isinstance(d, int) else None for d in s.dims], s.dtype, name=s.name)
                 for s in specs]
    function = tf.function(lambda *args: model.call(*args), input_signature=signature)
    try:
        with quiet():
            concrete = function.get_concrete_function()
            names = model.output_names or _structure_names(concrete.structured_outputs)
            if set(names) & {s.name for s in specs}:  # tf2onnx would give an input's name to an output, losing
                # the input: outputs go to it unnamed, and normalize names them (suffixed, the name recorded)
                function = tf.function(lambda *args: tuple(tf.nest.flatten(model.call(*args))),
                                       input_signature=signature)
                concrete = function.get_concrete_function()
            if xla_marked_calls(concrete.graph.as_graph_def()):
                proto = _from_inlined_function(tf2onnx, concrete, opset)
            else:
                proto, _ = tf2onnx.convert.from_function(function, input_signature=signature, opset=opset,
                                                         custom_op_handlers=custom_op_handlers())
    except Exception as error:
        keras_failure = keras_structure.call_error(error)
        if keras_failure is not None:
            raise GraphtoolError(f"{origin}: {keras_failure}") from error
        raise GraphtoolError(f"{origin}: tf2onnx could not convert it ({first_line(error)})") from error
    _refuse_tensorflow_ops(proto, origin)
    _freeze_captured_constants(proto, concrete)
    _name_symbolic_dims(proto, specs)
    _tidy_scopes(proto.graph, model.scope_names)
    return proto, names, _reference(model.call, [s.name for s in specs])


def _from_inlined_function(tf2onnx: Any, concrete: Any, opset: int) -> onnx.ModelProto:
    """tf2onnx's from_function, with XLA-marked calls unmarked between freezing and Grappler's inlining."""
    import tensorflow as tf

    inputs = [t.name for t in concrete.inputs if t.dtype != tf.resource]
    outputs = [t.name for t in concrete.outputs if t.dtype != tf.resource]
    renames = tf2onnx.convert.tensor_names_from_structed(concrete, inputs, outputs)
    frozen = tf2onnx.tf_loader.from_function(concrete, inputs, outputs)
    proto, _ = tf2onnx.convert.from_graph_def(without_xla_marks(frozen), input_names=inputs, output_names=outputs,
                                              opset=opset, custom_op_handlers=custom_op_handlers(),
                                              tensors_to_rename=renames)
    return proto


def _from_signature(loaded: Any, signature: str, path: str) -> TfFunction:
    signatures = dict(loaded.signatures)
    if signature not in signatures:
        raise GraphtoolError(
            f"{path}: no signature '{signature}'; it has {', '.join(signatures) or 'none'} (choose with --signature)"
        )
    concrete = signatures[signature]
    kwargs = concrete.structured_input_signature[1]
    keys = sorted(kwargs)  # a signature's inputs have no order of their own; tf.nest flattens them sorted too
    declared = [InputSpec(key, _dims(kwargs[key].shape, key), kwargs[key].dtype.name) for key in keys]

    def call(*args: Any) -> Any:
        return concrete(**dict(zip(keys, args, strict=True)))

    outputs = concrete.structured_outputs
    return TfFunction(call, declared, _structure_names(outputs), owner=loaded)


def _keras_inputs(model: Any) -> list:
    try:
        return list(model.inputs or [])
    except (AttributeError, ValueError):  # a subclassed model that was never called has no inputs
        return []


def _from_subclassed(model: Any) -> TfFunction:
    """A subclassed Keras model: its inputs are named after call()'s first parameter; shapes must be given."""
    import inspect

    parameters = [p.name for p in inspect.signature(model.call).parameters.values()
                  if p.default is inspect.Parameter.empty and p.kind is not p.VAR_KEYWORD]

    def call(*args: Any) -> Any:
        return model(args[0] if len(args) == 1 else list(args), training=False)

    return TfFunction(call, [], expected=parameters[:1] or ["inputs"], scope_names=frozenset(_layer_names(model)))


def _from_keras(model: Any) -> TfFunction:
    """A Keras model with known inputs, called with the structure it was built with (a dict keyed by input name)."""
    leaves = keras_structure.input_leaves(model)
    declared = [InputSpec(name, _dims(tensor.shape, name), str(tensor.dtype)) for name, tensor in leaves]
    pack = keras_structure.packer(model)

    def call(*args: Any) -> Any:
        return model(pack(args), training=False)

    return TfFunction(call, declared, keras_structure.output_names(model), scope_names=frozenset(_layer_names(model)))


def _layer_names(model: Any) -> Iterator[str]:
    yield model.name
    for layer in getattr(model, "layers", ()):
        yield from _layer_names(layer)


def _dims(shape: Any, name: str) -> tuple[int | str, ...]:
    dims = []
    for axis, dim in enumerate(list(shape)):
        dims.append(int(dim) if dim is not None else symbolic_dim_name(name, axis))
    return tuple(dims)


def _structure_names(outputs: Any) -> list[str]:
    if isinstance(outputs, dict):
        return sorted(str(k) for k in outputs)  # tf.nest flattens dicts in sorted key order
    if isinstance(outputs, (tuple, list)):
        return [f"output_{i}" for i in range(len(outputs))]
    return ["output"]


def _refuse_tensorflow_ops(model: onnx.ModelProto, origin: str) -> None:
    """tf2onnx copies TensorFlow ops it cannot convert into the graph as they are; no ONNX runtime has them."""
    left = [n for n in iter_nodes(model.graph) if n.domain in ("", "ai.onnx") and not onnx.defs.has(n.op_type)]
    if left:
        kinds = ", ".join(sorted({n.op_type for n in left}))
        raise GraphtoolError(f"{origin}: tf2onnx left {len(left)} TensorFlow op(s) unconverted ({kinds}; first: "
                             f"{left[0].name}); export the model without them or report it to tf2onnx")


def _freeze_captured_constants(model: onnx.ModelProto, concrete: Any) -> None:
    """tf2onnx leaves eager tensors a function captured (Keras' Normalization statistics) as graph inputs."""
    from onnx import numpy_helper

    constants = {inner.name: outer for outer, inner in concrete.graph.captures if hasattr(outer, "numpy")}
    kept = [value for value in model.graph.input if value.name not in constants]
    for value in model.graph.input:
        if value.name in constants:
            model.graph.initializer.append(numpy_helper.from_array(constants[value.name].numpy(), value.name))
    del model.graph.input[:]
    model.graph.input.extend(kept)


def _name_symbolic_dims(model: onnx.ModelProto, specs: Sequence[InputSpec]) -> None:
    by_name = {s.name: s for s in specs}
    for value in model.graph.input:
        spec = by_name.get(value.name)
        if spec is None:
            continue
        for dim, want in zip(value.type.tensor_type.shape.dim, spec.dims, strict=False):
            if isinstance(want, str):
                dim.dim_param = want


def _tidy_scopes(graph: onnx.GraphProto, known: frozenset[str]) -> None:
    """Keras suffixes names inside traces (dense -> dense_1); tf2onnx names the nodes it fuses Op__N.

    Nodes inlined from a function call keep the call's name in their path; it is dropped from the scope.
    """
    producer_name = {}
    for node in graph.node:
        parts = node.name.split("/")
        parts[:-1] = [_known_name(part, known) for part in parts[:-1] if part not in _CALL_OPS]
        if len(parts) == 1 and _GENERATED.match(node.name):
            scope = next((producer_name[i] for i in node.input if i in producer_name), "")
            parts = [*scope.split("/")[:-1], node.name] if scope else parts
        node.name = "/".join(parts)
        for output in node.output:
            producer_name[output] = node.name


def _known_name(part: str, known: frozenset[str]) -> str:
    if part in known:
        return part
    base = _SUFFIX.sub("", part)
    return base if base in known else part


def _reference(call: Any, names: list[str]) -> Reference:
    from converter.sources.tf_runner import tf_function_runner

    return tf_function_runner(call, names)
