"""Small, seeded ONNX models with known edits, for the graph, diff and render tests and benchmarks."""

from __future__ import annotations

import random

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from converter.core.scopes import SCOPE_KEY, SOURCE_KEY, set_node_meta

__all__ = ["base_model", "rename_all", "unrelated_model", "control_flow_model", "layered_model", "conv_matmul_model",
           "EDITS"]

EDITS = ("reorder", "insert", "remove", "attr", "weights", "shape", "opset")


def _node(op, inputs, outputs, name, scope, **attrs):
    node = helper.make_node(op, inputs, outputs, name=name, **attrs)
    set_node_meta(node, SCOPE_KEY, scope)
    set_node_meta(node, SOURCE_KEY, f"model.py:{10 + len(name)}")
    return node


def _weight(name, shape, seed):
    values = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return numpy_helper.from_array(values, name)


def base_model(*, reorder=False, insert=False, remove=False, attr=False, weights=False, shape=False,
               opset=13) -> onnx.ModelProto:
    """A small CNN: a stem, two parallel branches joined by Add, and a Gemm head; edits switch on."""
    classes = 12 if shape else 10
    w2 = _weight("blocks.0.b.weight", (8, 8, 3, 3), 3)
    if weights:
        values = numpy_helper.to_array(w2).copy()
        values.flat[:8] += 0.25
        w2 = numpy_helper.from_array(values, w2.name)
    inits = [
        _weight("stem.weight", (8, 3, 3, 3), 1), _weight("stem.bias", (8,), 2),
        _weight("blocks.0.a.weight", (8, 8, 1, 1), 4), w2,
        _weight("head.weight", (classes, 8), 5), _weight("head.bias", (classes,), 6),
    ]
    stem = [
        _node("Conv", ["x", "stem.weight", "stem.bias"], ["stem_conv"], "stem/conv", "stem",
              pads=[1, 1, 1, 1]),
        _node("Relu", ["stem_conv"], ["stem_out"], "stem/relu", "stem"),
    ]
    branch_a = [_node("Conv", ["stem_out", "blocks.0.a.weight"], ["a_conv"], "blocks.0/a/conv", "blocks.0/a")]
    if not remove:
        branch_a.append(_node("Sigmoid", ["a_conv"], ["a_out"], "blocks.0/a/sigmoid", "blocks.0/a"))
    branch_b = [
        _node("Conv", ["stem_out", "blocks.0.b.weight"], ["b_conv"], "blocks.0/b/conv", "blocks.0/b",
              pads=[1, 1, 1, 1]),
        _node("Tanh", ["b_conv"], ["b_out"], "blocks.0/b/tanh", "blocks.0/b"),
    ]
    branches = branch_b + branch_a if reorder else branch_a + branch_b
    join = [_node("Add", ["a_conv" if remove else "a_out", "b_out"], ["block_out"], "blocks.0/add", "blocks.0")]
    pooled_in = "block_out"
    if insert:
        join.append(_node("Relu", ["block_out"], ["block_act"], "blocks.0/relu", "blocks.0"))
        pooled_in = "block_act"
    head = [
        _node("GlobalAveragePool", [pooled_in], ["pooled"], "head/pool", "head"),
        _node("Flatten", ["pooled"], ["flat"], "head/flatten", "head", axis=1),
        _node("Gemm", ["flat", "head.weight", "head.bias"], ["logits"], "head/fc", "head",
              transB=1, alpha=0.5 if attr else 1.0),
        _node("Softmax", ["logits"], ["y"], "head/softmax", "head", axis=1),
    ]
    graph = helper.make_graph(
        stem + branches + join + head, "cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, classes])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def rename_all(model: onnx.ModelProto, seed: int = 0) -> onnx.ModelProto:
    """A copy with every node, tensor, initializer, input, output and scope name replaced."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    rng = random.Random(seed)
    names: dict[str, str] = {}

    def new(name: str) -> str:
        if not name:
            return name
        if name not in names:
            names[name] = f"t{rng.randrange(10**6):06d}_{len(names)}"
        return names[name]

    scopes: dict[str, str] = {}

    def new_scope(scope: str) -> str:
        return "/".join(scopes.setdefault(part, f"mod{len(scopes)}") for part in scope.split("/") if part)

    graph = model.graph
    graph.name = "renamed"
    for value in (*graph.input, *graph.output, *graph.value_info):
        value.name = new(value.name)
    for init in graph.initializer:
        init.name = new(init.name)
    for node in graph.node:
        node.name = f"node_{rng.randrange(10**6)}_{new(node.name)}"
        node.input[:] = [new(n) for n in node.input]
        node.output[:] = [new(n) for n in node.output]
        for prop in node.metadata_props:
            if prop.key == SCOPE_KEY:
                prop.value = new_scope(prop.value)
    return model


def unrelated_model() -> onnx.ModelProto:
    """An MLP that shares nothing with base_model but its input and output."""
    nodes = [
        _node("Flatten", ["x"], ["f"], "flatten", "", axis=1),
        _node("MatMul", ["f", "w1"], ["h"], "mm1", "mlp"),
        _node("LeakyRelu", ["h"], ["h2"], "act", "mlp", alpha=0.1),
        _node("MatMul", ["h2", "w2"], ["z"], "mm2", "mlp"),
        _node("HardSigmoid", ["z"], ["y"], "out", "mlp"),
    ]
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        [_weight("w1", (192, 32), 7), _weight("w2", (32, 10), 8)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def control_flow_model() -> onnx.ModelProto:
    """An If whose branches hold ops of their own, reading a tensor of the outer graph."""
    then_graph = helper.make_graph(
        [helper.make_node("Relu", ["h"], ["then_out"], name="then_relu")], "then", [],
        [helper.make_tensor_value_info("then_out", TensorProto.FLOAT, [2])],
    )
    else_graph = helper.make_graph(
        [helper.make_node("Neg", ["h"], ["neg"], name="else_neg"),
         helper.make_node("Abs", ["neg"], ["else_out"], name="else_abs")], "else", [],
        [helper.make_tensor_value_info("else_out", TensorProto.FLOAT, [2])],
    )
    nodes = [
        _node("Add", ["x", "bias"], ["h"], "add", "block"),
        _node("ReduceSum", ["h"], ["s"], "sum", "block", keepdims=0),
        _node("Greater", ["s", "zero"], ["cond"], "gt", "block"),
        _node("If", ["cond"], ["y"], "branch", "block", then_branch=then_graph, else_branch=else_graph),
    ]
    graph = helper.make_graph(
        nodes, "cf",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        [numpy_helper.from_array(np.array([1.0, -2.0], np.float32), "bias"),
         numpy_helper.from_array(np.array(0.0, np.float32), "zero")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def layered_model(nodes: int, *, seed: int = 0, width: int = 4, scoped: bool = True,
                  edit_every: int = 0) -> onnx.ModelProto:
    """A residual MLP of about ``nodes`` graph nodes in blocks of 9, scoped 'stage.I/block.J'.

    With ``edit_every`` > 0, every that-many-th block gets a changed attribute and changed weights.
    """
    rng = np.random.default_rng(seed)
    blocks = max(1, nodes // 9)
    graph_nodes, inits = [], []
    current = "x"
    for k in range(blocks):
        scope = f"stage.{k // 25}/block.{k % 25}" if scoped else ""
        p = f"s{k}"
        edited = edit_every and k % edit_every == edit_every - 1
        w1 = rng.standard_normal((width, width)).astype(np.float32)
        if edited:
            w1[0, 0] += 1.0
        inits += [numpy_helper.from_array(w1, f"{p}.w1"),
                  numpy_helper.from_array(rng.standard_normal(width).astype(np.float32), f"{p}.b1"),
                  numpy_helper.from_array(rng.standard_normal((width, width)).astype(np.float32), f"{p}.w2")]
        graph_nodes += [
            _node("MatMul", [current, f"{p}.w1"], [f"{p}.h"], f"{p}.mm1", f"{scope}/fc1".strip("/")),
            _node("Add", [f"{p}.h", f"{p}.b1"], [f"{p}.hb"], f"{p}.add1", f"{scope}/fc1".strip("/")),
            _node("LeakyRelu", [f"{p}.hb"], [f"{p}.a"], f"{p}.act", scope, alpha=0.2 if edited else 0.1),
            _node("MatMul", [f"{p}.a", f"{p}.w2"], [f"{p}.o"], f"{p}.mm2", f"{scope}/fc2".strip("/")),
            _node("Add", [f"{p}.o", current], [f"{p}.r"], f"{p}.res", scope),
            _node("Tanh", [f"{p}.r"], [f"{p}.out"], f"{p}.tanh", scope),
        ]
        current = f"{p}.out"
    graph_nodes.append(_node("Identity", [current], ["y"], "final", ""))
    graph = helper.make_graph(
        graph_nodes, "layered",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, width])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def conv_matmul_model() -> onnx.ModelProto:
    """Two Convs and two MatMuls with Relus (seeded weights): what the precision tests quantize."""
    rng = np.random.default_rng(0)

    def init(name, shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.2).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "conv1.weight", "conv1.bias"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "conv2.weight", "conv2.bias"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("MatMul", ["f", "fc1.weight"], ["m1"], name="fc1"),
        helper.make_node("Add", ["m1", "fc1.bias"], ["a1"], name="fc1_add"),
        helper.make_node("Relu", ["a1"], ["r3"], name="relu3"),
        helper.make_node("MatMul", ["r3", "fc2.weight"], ["y"], name="fc2"),
    ]
    inits = [init("conv1.weight", (8, 3, 3, 3)), init("conv1.bias", (8,)), init("conv2.weight", (16, 8, 3, 3)),
             init("conv2.bias", (16,)), init("fc1.weight", (16, 32)), init("fc1.bias", (32,)),
             init("fc2.weight", (32, 10))]
    graph = helper.make_graph(nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
