"""ONNX tensor element types <-> torch dtypes."""

from __future__ import annotations

import numpy as np
import onnx
import torch

__all__ = ["torch_dtype", "onnx_dtype", "FLOAT_DTYPES", "tensor_of"]

_T = onnx.TensorProto
_TO_TORCH = {
    _T.FLOAT: torch.float32,
    _T.DOUBLE: torch.float64,
    _T.FLOAT16: torch.float16,
    _T.BFLOAT16: torch.bfloat16,
    _T.INT8: torch.int8,
    _T.INT16: torch.int16,
    _T.INT32: torch.int32,
    _T.INT64: torch.int64,
    _T.UINT8: torch.uint8,
    _T.UINT16: torch.uint16,
    _T.UINT32: torch.uint32,
    _T.UINT64: torch.uint64,
    _T.BOOL: torch.bool,
    _T.COMPLEX64: torch.complex64,
    _T.COMPLEX128: torch.complex128,
    _T.FLOAT8E4M3FN: torch.float8_e4m3fn,
    _T.FLOAT8E4M3FNUZ: torch.float8_e4m3fnuz,
    _T.FLOAT8E5M2: torch.float8_e5m2,
    _T.FLOAT8E5M2FNUZ: torch.float8_e5m2fnuz,
}
_TO_ONNX = {dtype: code for code, dtype in _TO_TORCH.items()}
FLOAT_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def torch_dtype(elem_type: int) -> torch.dtype | None:
    """The torch dtype of an ONNX element type, or None when torch has none."""
    return _TO_TORCH.get(elem_type)


def onnx_dtype(dtype: torch.dtype) -> int:
    """The ONNX element type of a torch dtype."""
    return _TO_ONNX[dtype]


def tensor_of(array: np.ndarray) -> torch.Tensor:
    """A tensor holding a copy of `array`, bfloat16 included (numpy's is ml_dtypes', which torch.from_numpy refuses)."""
    if array.dtype.name == "bfloat16":
        return torch.from_numpy(np.array(array).view(np.uint16)).view(torch.bfloat16)
    return torch.from_numpy(np.array(array))
