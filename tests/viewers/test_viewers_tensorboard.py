"""converter/viewers/tensorboard.py: GraphDef from a graph view, event files, and a real TensorBoard reading them."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest
from graph_models import base_model
from viewers_helpers import PYTHON, SCREENSHOTS, browser_page, free_port, server

from converter.graphs.diff import diff_graphs
from converter.graphs.graph import to_graph

tensorboard = pytest.importorskip("converter.viewers.tensorboard")
pytest.importorskip("tensorboard", reason="the tensorboard extra")


def _by_name(graph_def):
    return {node.name: node for node in graph_def.node}


def _events(folder):
    """The events of a run's one event file, read as TFRecords (TensorBoard's loaders import TensorFlow)."""
    from tensorboard.compat.proto import event_pb2

    (path,) = folder.iterdir()
    data, offset, events = path.read_bytes(), 0, []
    while offset < len(data):
        length = int.from_bytes(data[offset:offset + 8], "little")
        events.append(event_pb2.Event.FromString(data[offset + 12:offset + 12 + length]))
        offset += 12 + length + 4
    return events


# TensorBoard uses its TensorFlow stub only when TensorFlow is absent: the stub is what the `tensorboard` extra gets
_TENSORBOARD = ("import sys, types; sys.modules['tensorboard.compat.notf'] = types.ModuleType('notf'); "
                "from tensorboard.main import run_main; sys.argv[0] = 'tensorboard'; run_main()")


def test_graph_def_folds_scopes_keeps_weights_typed_attributes_and_shapes():
    graph_def = tensorboard.to_graph_def(to_graph(base_model()))
    nodes = _by_name(graph_def)
    conv = nodes["stem/conv"]
    assert conv.op == "Conv" and list(conv.attr["pads"].list.i) == [1, 1, 1, 1]
    assert nodes["head/fc"].attr["alpha"].f == 1.0 and nodes["head/fc"].attr["transB"].i == 1
    weight = nodes["stem/stem.weight"]  # a weight folds into its user's scope
    assert weight.op == "Const" and [d.size for d in weight.attr["value"].tensor.tensor_shape.dim] == [8, 3, 3, 3]
    assert len(weight.attr["value"].tensor.tensor_content) == 8 * 3 * 3 * 3 * 4
    assert list(conv.input) == ["x", "stem/stem.weight", "stem/stem.bias"]
    assert [d.size for d in conv.attr["_output_shapes"].list.shape[0].dim] == [1, 8, 8, 8]
    assert not any(name.startswith("/") or ":" in name for name in nodes)


def test_diff_runs_carry_each_nodes_status(tmp_path):
    ga, gb = to_graph(base_model()), to_graph(base_model(insert=True, remove=True, attr=True, weights=True))
    from tensorboard.compat.proto import graph_pb2

    folders = tensorboard.write_diff(ga, gb, diff_graphs(ga, gb), tmp_path, ("old", "new"))
    assert [f.name for f in folders] == ["old", "new"]
    graphs = {}
    for folder in folders:
        (graph_event,) = [e for e in _events(folder) if e.graph_def]
        graph_def = graph_pb2.GraphDef.FromString(graph_event.graph_def)
        graphs[folder.name] = {n.name: n.attr["graphtool_diff"].s.decode() for n in graph_def.node}
    assert graphs["old"]["blocks.0/a/sigmoid"] == "removed"
    assert graphs["new"]["blocks.0/relu"] == "added"
    assert graphs["new"]["head/fc"] == "changed"
    assert graphs["new"]["blocks.0/b/blocks.0.b.weight"] == "weight_changed"
    assert graphs["new"]["stem/conv"] == "unchanged"


def test_validation_scalars_and_histograms(tmp_path):
    from converter.api import validate
    from converter.validation.tolerance import Tolerances

    a, w = tmp_path / "a.onnx", tmp_path / "w.onnx"
    import onnx

    onnx.save(base_model(), a)
    onnx.save(base_model(weights=True), w)
    report = validate(str(a), str(w), samples=2, tolerances=Tolerances()).to_dict()
    folder = tensorboard.write_validation(report, tmp_path / "logs", "val")
    (event,) = [e for e in _events(folder) if e.summary.value]
    values = {value.tag: value for value in event.summary.value}
    output = report["devices"][0]["outputs"][0]
    assert output["max_abs"] > 0
    assert values["cpu/y/max_abs"].simple_value == pytest.approx(output["max_abs"], rel=1e-6)
    assert values["cpu/y/abs_error"].histo.num == output["elements"] > 0
    assert sum(values["cpu/y/abs_error"].histo.bucket) == output["elements"]


def test_writing_needs_no_tensorflow(tmp_path):
    code = ("import sys; sys.path.insert(0, 'tests'); from graph_models import base_model; "
            "from converter.graphs.graph import to_graph; from converter.viewers import tensorboard as t; "
            f"from pathlib import Path; t.write_graph(t.to_graph_def(to_graph(base_model())), Path({str(tmp_path)!r}), "
            "'r'); "
            "print(sorted(m for m in ('tensorflow', 'torch') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
    assert len(list((tmp_path / "r").iterdir())) == 1


def test_existing_run_is_refused_and_left_alone(tmp_path):
    g = to_graph(base_model())
    folder = tensorboard.write_graph(tensorboard.to_graph_def(g), tmp_path, "run")
    before = sorted(p.name for p in folder.iterdir())
    from converter.core.errors import GraphtoolError

    with pytest.raises(GraphtoolError, match="already exists; pass --force"):
        tensorboard.write_graph(tensorboard.to_graph_def(g), tmp_path, "run")
    assert sorted(p.name for p in folder.iterdir()) == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no staging folder left behind


@pytest.mark.external
def test_tensorboard_serves_the_graph_and_draws_the_scopes(tmp_path):
    import onnx

    model = tmp_path / "cnn.onnx"
    onnx.save(base_model(), model)
    logdir = tmp_path / "logs"
    cli = subprocess.run([PYTHON, "-m", "converter", "render", str(model), "--format", "tensorboard", "-o",
                          str(logdir)], capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [PYTHON, "-c", _TENSORBOARD, "--logdir", str(logdir), "--host", "127.0.0.1", "--port", str(port)]
    with server(command, f"{url}/data/plugin/graphs/info", tmp_path / "tensorboard.log"):
        with urllib.request.urlopen(f"{url}/data/plugin/graphs/info") as response:
            assert json.load(response)["cnn"]["run_graph"] is True
        with urllib.request.urlopen(f"{url}/data/plugin/graphs/graph?run=cnn") as response:
            text = response.read().decode()
        from google.protobuf import text_format
        from tensorboard.compat.proto import graph_pb2

        graph_def = text_format.Parse(text, graph_pb2.GraphDef())
        names = [node.name for node in graph_def.node]
        assert len(names) == to_graph(base_model()).number_of_nodes() == 19
        assert {name.split("/")[0] for name in names if "/" in name} == {"stem", "blocks.0", "head"}
        conv = _by_name(graph_def)["blocks.0/b/conv"]
        assert [d.size for d in conv.attr["_output_shapes"].list.shape[0].dim] == [1, 8, 8, 8]
        with browser_page() as page:
            page.goto(f"{url}/#graphs")  # one run in the log dir: the page picks it itself
            page.wait_for_selector("g.node[data-name='blocks.0']", timeout=30000)
            drawn = {page.locator(f"g.node[data-name='{scope}']").count() for scope in ("stem", "blocks.0", "head")}
            assert drawn == {1}
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "tensorboard.png"))
