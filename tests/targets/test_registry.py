"""The op registry shared by both converters: versions, duplicates, misses, and what entries carry."""

from __future__ import annotations

import onnx
import pytest

from converter.core.errors import UnsupportedOpError
from converter.targets.registry import OpRegistry


def _node(op_type: str, domain: str = "") -> onnx.NodeProto:
    return onnx.helper.make_node(op_type, ["x"], ["y"], name=f"n_{op_type}", domain=domain)


def _registry() -> OpRegistry:
    registry = OpRegistry("test")
    registry.register("Relu")(lambda node, x: "relu-1")
    registry.register("Relu", since=14)(lambda node, x: "relu-14")
    registry.register("Reshape", since=5, layout="marker", dims=lambda node, x, s: None)(lambda node, x, s: "reshape")
    registry.register("Binarizer", domain="ai.onnx.ml")(lambda node, x: "binarizer")
    return registry


def test_lookup_picks_the_latest_version_not_after_the_opset():
    registry = _registry()
    assert registry.lookup(_node("Relu"), 13)(None, None) == "relu-1"
    assert registry.lookup(_node("Relu"), 14)(None, None) == "relu-14"
    assert registry.lookup(_node("Relu"), 22)(None, None) == "relu-14"


def test_domains_are_separate_and_ai_onnx_is_the_default():
    registry = _registry()
    assert registry.lookup(_node("Relu", "ai.onnx"), 18)(None, None) == "relu-14"
    assert registry.lookup(_node("Binarizer", "ai.onnx.ml"), 1)(None, None) == "binarizer"
    assert registry.op_types() == ["Relu", "Reshape"]
    assert registry.op_types("ai.onnx.ml") == ["Binarizer"]
    with pytest.raises(UnsupportedOpError):
        registry.lookup(_node("Binarizer"), 18)


def test_a_duplicate_key_is_refused():
    registry = _registry()
    with pytest.raises(ValueError, match="Relu since 14 registered twice"):
        registry.register("Relu", since=14)(lambda node, x: None)


def test_a_missing_op_names_node_op_opset_and_what_is_supported():
    with pytest.raises(UnsupportedOpError) as caught:
        _registry().lookup(_node("Relus"), 18)
    message = str(caught.value)
    assert "n_Relus" in message and "Relus" in message and "opset 18" in message
    assert "handles 2 op types" in message and "closest: Relu" in message


def test_an_opset_before_the_first_version_names_it():
    with pytest.raises(UnsupportedOpError, match="from opset 5 on"):
        _registry().lookup(_node("Reshape"), 4)


def test_entries_carry_layout_and_dims():
    entry = _registry().entry(_node("Reshape"), 18)
    assert (entry.op_type, entry.since, entry.layout) == ("Reshape", 5, "marker")
    assert entry.dims is not None
    assert _registry().entry(_node("Relu"), 18).dims is None


def test_state_lives_in_the_instance():
    first, second = OpRegistry("a"), OpRegistry("b")
    first.register("Relu")(lambda node, x: None)
    assert first.supports("Relu") and not second.supports("Relu")


def test_handler_modules_are_an_explicit_list_under_the_package():
    registry = OpRegistry("test", package="converter.targets", modules=("registry",))
    assert registry.load() is registry


@pytest.mark.slow
def test_both_converters_keep_an_op_at_the_same_family_file():
    """An op both converters handle is registered from the same ops/FAMILY.py in each."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("torch")
    from converter.targets.tf.registry import load_handlers as tf_handlers
    from converter.targets.torch.registry import load_handlers as torch_handlers

    def families(registry: OpRegistry) -> dict[tuple[str, str], set[str]]:
        found: dict[tuple[str, str], set[str]] = {}
        for entry in registry.entries():
            found.setdefault((entry.domain, entry.op_type), set()).add(entry.handler.__module__.rsplit(".", 1)[1])
        return found

    tf_families, torch_families = families(tf_handlers()), families(torch_handlers())
    shared = set(tf_families) & set(torch_families)
    assert len(shared) > 150
    assert {op: tf_families[op] for op in shared if tf_families[op] != torch_families[op]} == {}
