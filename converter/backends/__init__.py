"""ONNX backends (in the sense of onnx.backend.base): run a ModelProto through a converted framework."""

from __future__ import annotations

__all__: list[str] = []
