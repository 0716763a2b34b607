"""Op handlers of the ONNX -> TensorFlow converter, one module per op family (see registry.HANDLER_MODULES)."""
