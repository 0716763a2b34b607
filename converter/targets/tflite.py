"""SavedModel -> .tflite with tf.lite.TFLiteConverter (targets.runners runs the result)."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from converter.core.atomic import atomic_path
from converter.core.errors import GraphtoolError

if TYPE_CHECKING:
    import onnx

    from converter.targets.savedmodel import SavedModelResult

__all__ = ["TfliteResult", "Build", "write_tflite", "staged_savedmodel", "tf_ops_named", "custom_ops"]

# Turns a TFLiteConverter, its supported_ops already set, into the flatbuffer: where a precision sets its options.
Build = Callable[[Any], bytes]


@dataclass(frozen=True)
class TfliteResult:
    """The written .tflite file and whether it needs TensorFlow (Flex) ops beyond the builtins."""

    path: str
    size_bytes: int
    select_tf_ops: bool
    tf_ops: tuple[str, ...] = ()  # the TensorFlow ops kept as Select TF ops, named by the converter

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_tflite(saved_model: str | Path, path: str | Path, *, force: bool = False,
                 build: Build | None = None) -> TfliteResult:
    """Convert the SavedModel's serving_default signature; builtin ops first, then with Select TF ops.

    A model whose ops this TFLite interpreter cannot run is refused (GraphtoolError naming them), nothing written.
    `build`: converts the prepared TFLiteConverter (its convert() where None), e.g. quantized.
    """
    from converter.targets.savedmodel import SIGNATURE_KEY
    from converter.targets.tf import require_tensorflow

    tf = require_tensorflow()
    select, kept = False, ()
    try:
        flatbuffer = _convert(tf, saved_model, SIGNATURE_KEY, False, build)
    except Exception as error:  # noqa: BLE001 - TFLiteConverter raises ConverterError and others
        if "select" not in str(error).lower() and "flex" not in str(error).lower():
            raise
        kept = tf_ops_named(str(error))
        flatbuffer, select = _convert_with_select(tf, saved_model, SIGNATURE_KEY, build), True
        _check_interpreter(tf, flatbuffer, kept)
    target = Path(path)
    with atomic_path(target, force) as temporary:
        temporary.write_bytes(flatbuffer)
    return TfliteResult(path=str(target), size_bytes=len(flatbuffer), select_tf_ops=select, tf_ops=kept)


def tf_ops_named(message: str) -> tuple[str, ...]:
    """The TensorFlow ops TFLiteConverter says the builtins lack ('tf.Erf {...}' lines)."""
    return tuple(sorted(set(re.findall(r"\btf\.([A-Z]\w*)", message))))


def custom_ops(flatbuffer: bytes) -> tuple[str, ...]:
    """The custom op codes a .tflite flatbuffer holds: 'FlexErf' for a Select TF op, or a custom op's name."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(flatbuffer, 0)
    codes = (model.OperatorCodes(index).CustomCode() for index in range(model.OperatorCodesLength()))
    return tuple(sorted({code.decode() for code in codes if code}))


def _named(ops: tuple[str, ...]) -> str:
    """'Erf (FlexErf), Sinh (FlexSinh)': each TensorFlow op beside the name the interpreter knows it by."""
    return ", ".join(f"{op[4:]} ({op})" if op.startswith("Flex") and len(op) > 4 else op for op in ops)


_WHAT_TO_DO = ("convert --to savedmodel instead, or replace those ops in the source "
               "(e.g. Keras' GELU with approximate=True)")


def _convert_with_select(tf: Any, saved_model: str | Path, key: str, build: Build | None) -> bytes:
    """With Select TF ops allowed; ops that TensorFlow Lite has no kernel for at all are refused by name."""
    try:
        return _convert(tf, saved_model, key, True, build)
    except Exception as error:  # noqa: BLE001 - TFLiteConverter raises ConverterError and others
        missing = sorted(set(re.findall(r"'tf\.(\w+)' op is neither a custom op nor a flex op", str(error))))
        if not missing:
            raise
        raise GraphtoolError(
            f"tflite: the model needs TensorFlow op(s) that neither TFLite's builtins nor its Select TF ops "
            f"have: {', '.join(missing)}; nothing was written; {_WHAT_TO_DO}"
        ) from error


def _check_interpreter(tf: Any, flatbuffer: bytes, kept: tuple[str, ...]) -> None:
    """A model with Select TF ops the installed interpreter cannot run is refused, naming the ops."""
    try:
        _run_once(tf, flatbuffer)
    except Exception as error:  # noqa: BLE001 - the interpreter raises RuntimeError or ValueError
        if not isinstance(error, _Unprepared) and "flex" not in str(error).lower() \
                and "select tensorflow op" not in str(error).lower():
            return  # not the Select TF ops: validation runs it and says what failed
        ops = _named(custom_ops(flatbuffer)) or ", ".join(kept) or "unnamed TensorFlow ops"
        raise GraphtoolError(
            f"tflite: the model needs TensorFlow op(s) that TensorFlow's TFLite interpreter cannot run: {ops}; "
            "they are Select TF ops, which need the Flex delegate this interpreter lacks; nothing was written; "
            f"{_WHAT_TO_DO}"
        ) from error


class _Unprepared(RuntimeError):
    """The interpreter could not even allocate the model's tensors."""


def _run_once(tf: Any, flatbuffer: bytes) -> None:
    """Allocate the model and run its signature once on zeros (dynamic dims at 1): a model with a dynamic shape
    prepares its ops, the Flex ones among them, only when it first runs."""
    import numpy as np

    interpreter = tf.lite.Interpreter(model_content=flatbuffer)
    try:
        interpreter.allocate_tensors()
    except Exception as error:  # noqa: BLE001 - the interpreter raises RuntimeError or ValueError
        raise _Unprepared(str(error)) from error
    runner = interpreter.get_signature_runner()
    runner(**{name: np.zeros([d if d > 0 else 1 for d in detail["shape_signature"]], detail["dtype"])
              for name, detail in runner.get_input_details().items()})


def _convert(tf: Any, saved_model: str | Path, key: str, select_tf_ops: bool, build: Build | None) -> bytes:
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model), signature_keys=[key])
    ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if select_tf_ops:
        ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
    converter.target_spec.supported_ops = ops
    return build(converter) if build is not None else converter.convert()


@contextmanager
def staged_savedmodel(model: onnx.ModelProto, beside: str | Path | None = None) -> Iterator[SavedModelResult]:
    """`model` as a SavedModel in a temporary folder (in `beside` where given), removed afterwards."""
    from converter.targets.savedmodel import write_savedmodel

    folder = Path(tempfile.mkdtemp(prefix=".graphtool-savedmodel-", dir=beside))
    try:
        yield write_savedmodel(model, folder / "savedmodel")
    finally:
        shutil.rmtree(folder, ignore_errors=True)

