"""ONNX ModelProto -> TensorFlow SavedModel with a `serving_default` signature named after the ONNX values."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import onnx

from converter.core.atomic import atomic_path
from converter.core.errors import GraphtoolError
from converter.core.output_names import source_output_names
from converter.core.timing import stage

__all__ = ["SavedModelResult", "write_savedmodel", "SIGNATURE_KEY"]

SIGNATURE_KEY = "serving_default"


@dataclass(frozen=True)
class SavedModelResult:
    """Where the SavedModel went and how its signature names map to the ONNX names (outputs: their source names)."""

    directory: str
    inputs: dict[str, str]
    outputs: dict[str, str]
    transposes: int
    variables: int

    @property
    def renamed(self) -> dict[str, str]:
        """ONNX names that TensorFlow required changing, with their signature names."""
        pairs = {**self.inputs, **self.outputs}
        return {onnx_name: tf_name for onnx_name, tf_name in pairs.items() if onnx_name != tf_name}

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "renamed": self.renamed}


def write_savedmodel(
    model: onnx.ModelProto, directory: str | Path, *, force: bool = False, propagate_layout: bool = True
) -> SavedModelResult:
    """Convert `model` and save it atomically (temporary folder, then rename) at `directory`."""
    from converter.targets.tf import count_transposes, from_onnx, require_tensorflow
    from converter.targets.tf.names import sanitize_all

    _check(model)
    with stage("import"):
        tf = require_tensorflow()
    with stage("build"):
        module = from_onnx(model, propagate_layout=propagate_layout)
    sources = dict(zip(module.output_names, source_output_names(model), strict=True))
    signature_keys = sanitize_all(list(sources.values()))  # outputs are named after the source, as inputs are
    output_names = {name: signature_keys[source] for name, source in sources.items()}

    def serving(*inputs: Any) -> dict[str, Any]:
        results = module.call(*inputs)
        return {output_names[name]: results[name] for name in module.output_names}

    signature = tf.function(serving, input_signature=module.call.input_signature, autograph=False)
    module.serving = signature
    target = Path(directory)
    with stage("save"), atomic_path(target, force) as temporary:
        tf.saved_model.save(module, str(temporary), signatures={SIGNATURE_KEY: signature.get_concrete_function()})
    return SavedModelResult(
        directory=str(target),
        inputs=dict(module.tf_input_names),
        outputs=output_names,
        transposes=count_transposes(module),
        variables=len(module.onnx_weights),
    )


def _check(model: onnx.ModelProto) -> None:
    """Refuse a model that onnx's checker rejects, with the checker's first line."""
    from converter.core.external_data import uses_external_data

    if uses_external_data(model):
        return  # the in-memory checker cannot see its data files; loading checked the source already
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else "invalid model"
        raise GraphtoolError(f"the ONNX model fails onnx's checker: {first}") from error
