"""The conformance harness of both converters, shared by the tests and benchmarks/conformance.py.

Two yardsticks, the same for both converters:
- `cases`: the ONNX backend node test cases shipped with onnx: a case counts where onnxruntime (CPU) passes
  it, and a converter passes it when every output has the expected dtype and shape, floats within the
  case's rtol/atol and everything else exactly;
- `light`: the nine light CNNs with seeded random weights, compared on the output and on the logits
  before the final softmax, optionally also as the files each converter writes, loaded back.
"""

from __future__ import annotations

__all__: list[str] = []
