"""ONNX element types -> TensorFlow dtypes."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx

__all__ = ["tf_dtype", "is_float_array"]

_NAMES = {
    onnx.TensorProto.FLOAT: "float32",
    onnx.TensorProto.DOUBLE: "float64",
    onnx.TensorProto.FLOAT16: "float16",
    onnx.TensorProto.BFLOAT16: "bfloat16",
    onnx.TensorProto.INT8: "int8",
    onnx.TensorProto.INT16: "int16",
    onnx.TensorProto.INT32: "int32",
    onnx.TensorProto.INT64: "int64",
    onnx.TensorProto.UINT8: "uint8",
    onnx.TensorProto.UINT16: "uint16",
    onnx.TensorProto.UINT32: "uint32",
    onnx.TensorProto.UINT64: "uint64",
    onnx.TensorProto.BOOL: "bool",
    onnx.TensorProto.STRING: "string",
    onnx.TensorProto.COMPLEX64: "complex64",
    onnx.TensorProto.COMPLEX128: "complex128",
}


def tf_dtype(elem_type: int) -> Any | None:
    """The tf.DType for an ONNX element type, or None when TensorFlow has no equivalent."""
    import tensorflow as tf

    name = _NAMES.get(elem_type)
    return None if name is None else tf.as_dtype(name)


def is_float_array(array: np.ndarray) -> bool:
    """Whether `array` holds floats, bfloat16 included (numpy's is ml_dtypes', whose kind is 'V')."""
    return array.dtype.kind == "f" or array.dtype.name == "bfloat16"
