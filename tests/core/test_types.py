"""LoadOptions, the one table of loading options: its flagged fields as the CLI and batch manifests name them."""

from __future__ import annotations

from pathlib import Path

from converter.core.types import TRACES, LoadOptions, load_option_specs


def test_each_flagged_field_has_a_manifest_key_and_a_value_type():
    specs = {spec.key: spec for spec in load_option_specs()}
    assert list(specs) == ["input", "inputs", "from", "trace", "opset", "signature", "model_class", "trust_pickle",
                           "trust_code", "custom_objects", "timeout", "static"]
    assert (specs["input"].field, specs["input"].kind, specs["input"].repeated) == ("input_specs", str, True)
    assert (specs["inputs"].kind, specs["opset"].kind, specs["timeout"].kind) == (Path, int, float)
    assert specs["trace"].choices == TRACES and specs["timeout"].min == 0.1
    assert all(spec.help.endswith(".") and spec.flag.startswith("--") for spec in specs.values())


def test_from_keys_takes_the_manifest_names_and_leaves_the_rest():
    options = LoadOptions.from_keys({"from": "onnx", "inputs": "d.npz", "input": ["x:1"], "trace": "fx",
                                     "rtol": 1e-3, "samples": 2})
    assert options == LoadOptions(("x:1",), Path("d.npz"), "onnx", "fx")
    assert LoadOptions.from_keys({}) == LoadOptions()


def test_to_keys_names_only_what_was_set_and_reads_back_the_same():
    import json

    options = LoadOptions(input_specs=["x:batch,3"], inputs_file="data.npz", trace="auto", trust_code=True)
    keys = options.to_keys()
    assert keys == {"input": ["x:batch,3"], "inputs": "data.npz", "trace": "auto", "trust_code": True}
    assert LoadOptions.from_keys(json.loads(json.dumps(keys))) == options and LoadOptions().to_keys() == {}
