"""SavedModel -> .tflite with tf.lite.TFLiteConverter (validation.runners runs the result)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from converter.atomic import atomic_path

__all__ = ["TfliteResult", "write_tflite"]


@dataclass(frozen=True)
class TfliteResult:
    """The written .tflite file and whether it needs TensorFlow (Flex) ops beyond the builtins."""

    path: str
    size_bytes: int
    select_tf_ops: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_tflite(saved_model: str | Path, path: str | Path, *, force: bool = False) -> TfliteResult:
    """Convert the SavedModel's serving_default signature; builtin ops first, then with Select TF ops."""
    from converter.targets.savedmodel import SIGNATURE_KEY
    from converter.targets.tf import require_tensorflow

    tf = require_tensorflow()
    select = False
    try:
        flatbuffer = _convert(tf, saved_model, SIGNATURE_KEY, select_tf_ops=False)
    except Exception as error:  # noqa: BLE001 - TFLiteConverter raises ConverterError and others
        if "select" not in str(error).lower() and "flex" not in str(error).lower():
            raise
        flatbuffer, select = _convert(tf, saved_model, SIGNATURE_KEY, select_tf_ops=True), True
    target = Path(path)
    with atomic_path(target, force) as temporary:
        temporary.write_bytes(flatbuffer)
    return TfliteResult(path=str(target), size_bytes=len(flatbuffer), select_tf_ops=select)


def _convert(tf: Any, saved_model: str | Path, key: str, select_tf_ops: bool) -> bytes:
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model), signature_keys=[key])
    ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if select_tf_ops:
        ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
    converter.target_spec.supported_ops = ops
    return converter.convert()

