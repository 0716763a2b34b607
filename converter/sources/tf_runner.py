"""How a TensorFlow source runs: a concrete function or Keras model called with the inputs in order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from converter.core.errors import GraphtoolError
from converter.core.frameworks import console_to_stderr, require
from converter.core.runners import Runner
from converter.sources.keras_structure import call_error

__all__ = ["tf_function_runner"]


def tf_function_runner(call: Any, input_names: Sequence[str], name: str = "tensorflow") -> Runner:
    """A TensorFlow callable (concrete function, Keras model) with the inputs in order; outputs tf.nest-flattened."""
    tf = require("tensorflow", "tf")

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        try:
            with console_to_stderr():  # the model's own prints (tf.print) stay off stdout
                result = call(*[tf.constant(feeds[n]) for n in input_names])
        except Exception as error:
            summary = call_error(error)
            if summary is None:
                raise
            raise GraphtoolError(summary) from error
        return [np.asarray(t) for t in tf.nest.flatten(result)]

    return Runner(name, "cpu", run)
