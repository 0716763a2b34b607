"""Op handlers of the ONNX -> PyTorch converter, one module per op family (the same files as tf/ops)."""
