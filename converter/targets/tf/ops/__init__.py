"""Op handlers of the ONNX -> TensorFlow converter, one module per op family (the same files as torch/ops)."""
