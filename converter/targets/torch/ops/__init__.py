"""Op handlers of the ONNX -> PyTorch converter, one module per op family (see registry.HANDLER_MODULES)."""
