"""`validate --endpoint`: a live server's metadata, answers and refusals checked against the source model.

The endpoint is one more Runner (endpoint_runner) that the validation engine compares with the source.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import onnx

from converter.core.errors import GraphtoolError
from converter.core.output_names import source_output_names, source_outputs
from converter.core.runners import Runner
from converter.core.types import LoadedModel
from converter.deploy.interface import Interface, TensorSpec, numpy_dtype
from converter.validation.engine import Loader, compare_sides, samples_for, side_of
from converter.validation.report import ValidationReport
from converter.validation.samples import EXERCISES
from converter.validation.tolerance import Tolerances

__all__ = ["validate_endpoint", "endpoint_runner", "client_for", "Client", "PROTOCOLS", "http", "served_precision"]

PROTOCOLS = ("auto", "tfserving", "v2", "torchserve")
_TF_TO_NUMPY = {"DT_FLOAT": "float32", "DT_DOUBLE": "float64", "DT_HALF": "float16", "DT_INT8": "int8",
                "DT_INT16": "int16", "DT_INT32": "int32", "DT_INT64": "int64", "DT_UINT8": "uint8", "DT_BOOL": "bool"}


def http(method: str, url: str, body: bytes | None = None, timeout: float = 30.0) -> tuple[int, bytes]:
    """(status, body) of one request; connection failures are one-line errors."""
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (urllib.error.URLError, OSError) as error:
        raise GraphtoolError(f"{url}: no answer ({getattr(error, 'reason', error)}); is the server running?") from error


@dataclass(frozen=True)
class Client:
    """One protocol's requests: health, metadata (None where the protocol has none), infer, and a bad body."""

    protocol: str
    base: str
    model: str

    def get(self, path: str) -> tuple[int, Any]:
        status, data = http("GET", self.base + path)
        try:
            return status, json.loads(data or b"null")
        except json.JSONDecodeError:
            return status, data.decode(errors="replace")

    def post(self, path: str, document: Any) -> tuple[int, Any]:
        raw = document if isinstance(document, bytes) else json.dumps(document).encode()
        status, data = http("POST", self.base + path, raw)
        try:
            return status, json.loads(data or b"null")
        except json.JSONDecodeError:
            return status, data.decode(errors="replace")

    def healthy(self) -> bool:
        path = {"v2": "/v2/health/ready", "tfserving": f"/v1/models/{self.model}", "torchserve": "/ping"}
        return self.get(path[self.protocol])[0] == 200

    def metadata(self) -> Interface | None:
        if self.protocol == "torchserve":
            return None
        if self.protocol == "v2":
            status, body = self.get(f"/v2/models/{self.model}")
            if status != 200:
                raise GraphtoolError(f"{self.base}: metadata of {self.model}: HTTP {status}: {body}")

            def specs(items) -> tuple[TensorSpec, ...]:
                return tuple(TensorSpec(i["name"], numpy_dtype(i["datatype"]) or i["datatype"], tuple(i["shape"]))
                             for i in items)

            return Interface(specs(body["inputs"]), specs(body["outputs"]))
        status, body = self.get(f"/v1/models/{self.model}/metadata")
        if status != 200:
            raise GraphtoolError(f"{self.base}: metadata of {self.model}: HTTP {status}: {body}")
        signature = body["metadata"]["signature_def"]["signature_def"]["serving_default"]

        def tf_specs(items: dict) -> tuple[TensorSpec, ...]:
            return tuple(TensorSpec(n, _TF_TO_NUMPY.get(t["dtype"], t["dtype"]),
                                    tuple(int(d["size"]) for d in t["tensor_shape"].get("dim", [])))
                         for n, t in items.items())

        return Interface(tf_specs(signature["inputs"]), tf_specs(signature["outputs"]))

    def infer_body(self, feeds: dict[str, np.ndarray]) -> bytes:
        """The JSON body of an inference request for `feeds`, in this protocol."""
        if self.protocol == "v2":
            body = {"inputs": [{"name": n, "shape": list(a.shape), "datatype": _v2(a), "data": a.ravel().tolist()}
                               for n, a in feeds.items()]}
        else:
            body = {"inputs": {n: a.tolist() for n, a in feeds.items()}}
        return json.dumps(body).encode()

    def infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        status, answer = self.post(self.infer_path(), self.infer_body(feeds))
        self._ok(status, answer)
        if self.protocol == "v2":
            return {o["name"]: np.asarray(o["data"], dtype=numpy_dtype(o["datatype"])).reshape(o["shape"])
                    for o in answer["outputs"]}
        outputs = answer["outputs"]
        return {n: np.asarray(v) for n, v in outputs.items()} if isinstance(outputs, dict) else \
            {"": np.asarray(outputs)}

    def _ok(self, status: int, answer: Any) -> None:
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {answer}")

    def infer_path(self) -> str:
        return {"v2": f"/v2/models/{self.model}/infer", "tfserving": f"/v1/models/{self.model}:predict",
                "torchserve": f"/predictions/{self.model}"}[self.protocol]


def _v2(array: np.ndarray) -> str:
    from converter.deploy.interface import V2_DTYPES

    return V2_DTYPES.get(array.dtype.name, "BYTES")


def client_for(url: str, protocol: str, model: str) -> Client:
    """A client for the protocol, or for the first one the server answers (v2, TF Serving, TorchServe)."""
    if protocol not in PROTOCOLS:
        raise GraphtoolError(f"--protocol {protocol}: expected one of {', '.join(PROTOCOLS)}")
    base = url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise GraphtoolError(f"--endpoint {url}: expected an http:// or https:// URL")
    candidates = ("v2", "tfserving", "torchserve") if protocol == "auto" else (protocol,)
    for candidate in candidates:
        client = Client(candidate, base, model)
        if client.healthy():
            return client
    raise GraphtoolError(f"{base}: not ready over {', '.join(candidates)} for model '{model}'; check the URL, "
                         "--model and --protocol")


def endpoint_runner(client: Client, loaded: LoadedModel, served: Interface | None) -> Runner:
    """The live endpoint as a Runner: the source's outputs, in its order, from what the server answers."""
    outputs = source_outputs(loaded.model)
    names = list(outputs)
    # JSON carries no dtype: answers take the one the endpoint declares, else the source's
    declared = {name: onnx.helper.tensor_dtype_to_np_dtype(o.type.tensor_type.elem_type).name
                for name, o in outputs.items()}
    dtypes = [declared[n] for n in names] if served is None or len(served.outputs) != len(names) else \
        [next((s.dtype for s in served.outputs if s.name == n), declared[n]) for n in names]
    # a half-precision endpoint's float16 answers, widened (exactly) to the float32 the source answers in: the
    # metadata check is what judges the declared dtypes
    dtypes = [declared[n] if (declared[n], d) == ("float32", "float16") else d for n, d in zip(names, dtypes,
                                                                                                strict=True)]

    # a server that takes half-precision inputs (Triton) refuses FP32 ones: float feeds go in its declared dtype
    inputs = {s.name: s.dtype for s in served.inputs} if served is not None else {}

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        outputs = client.infer({n: _as_declared(a, inputs.get(n)) for n, a in feeds.items()})
        found = [outputs[n] for n in names] if all(n in outputs for n in names) else list(outputs.values())
        return [np.asarray(a).astype(d, copy=False) for a, d in zip(found, dtypes, strict=False)]

    return Runner(f"{client.protocol} endpoint {client.base} ({client.model})", "remote", run)


def _as_declared(array: np.ndarray, dtype: str | None) -> np.ndarray:
    if dtype is None or array.dtype.kind != "f" or dtype not in _FLOATS:
        return array
    return array.astype(dtype, copy=False)


_FLOATS = ("float16", "float32", "float64")
_HALF = {"float16": "fp16"}  # bfloat16 travels as float32 (deploy.interface.wire_dtype): not seen in metadata


def served_precision(model: onnx.ModelProto, served: Interface | None) -> str | None:
    """The half precision an endpoint declares where the source has float32 tensors (fp16), else None."""
    if served is None:
        return None
    found = {_HALF[spec.dtype] for spec, value in _paired(model, served)
             if spec.dtype in _HALF and value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT}
    return found.pop() if len(found) == 1 else None


def validate_endpoint(load: Loader, url: str, name: str, *, protocol: str = "auto", samples: int = 3, seed: int = 0,
                      tolerances: Tolerances | None = None, from_file: bool = False) -> ValidationReport:
    """The source model (in its framework) against what the endpoint answers, with the same report as validate.

    The endpoint is reached before `load` is called, so a wrong URL costs no load.
    """
    client = client_for(url, protocol, name)
    loaded = load()
    expected = side_of(loaded)
    served = client.metadata()
    judged, notes = _judging(tolerances or Tolerances(), served_precision(loaded.model, served))
    problems = _metadata_problems(loaded.model, expected.input_names, served, judged.precision) \
        if served is not None else []
    chosen = samples_for(loaded, samples, seed, from_file)
    if judged.precision != "fp32":  # as convert --precision judges it: in the range it was built for
        chosen = [s for s in chosen if s.kind not in dict(EXERCISES)]
        notes += (f"a {judged.precision} endpoint: judged on the traced inputs and seeded draws, not on them "
                  "negated, scaled or zeroed",)
    if served is None:
        notes += ("TorchServe has no metadata API: names, dtypes and shapes checked through the answers only",)
    report = compare_sides(expected, [side_of(loaded, endpoint_runner(client, loaded, served))], chosen, judged,
                           notes=notes)
    refusals = _probe_refusals(client, chosen[0].feeds)
    return replace(report, signature_problems=report.signature_problems + tuple(problems) + tuple(refusals))


def _judging(tolerances: Tolerances, declared: str | None) -> tuple[Tolerances, tuple[str, ...]]:
    """The tolerances given; when they judge float32 and the endpoint declares half-precision tensors, that
    precision's budget instead (what a half-precision model is judged by against its float32 source)."""
    if declared is None or tolerances.precision != "fp32":
        return tolerances, ()
    return tolerances.with_precision(declared), (f"the endpoint declares {declared} tensors where the source has "
                                                 f"float32 ones: judged by the {declared} budget",)


def _metadata_problems(model: onnx.ModelProto, input_names, served: Interface, precision: str = "fp32") -> list[str]:
    """Names, dtypes and dims the endpoint declares, against the source's ONNX interface (a half-precision
    endpoint may declare float16 where the source has float32)."""
    problems = []
    wanted_inputs = list(input_names)
    if sorted(s.name for s in served.inputs) != sorted(wanted_inputs):
        problems.append(f"endpoint inputs {[s.name for s in served.inputs]}, source inputs {wanted_inputs}")
    wanted_outputs = source_output_names(model)
    if sorted(s.name for s in served.outputs) != sorted(wanted_outputs):
        problems.append(f"endpoint outputs {[s.name for s in served.outputs]}, source outputs {wanted_outputs}")
    for spec, value in _paired(model, served):
        tensor = value.type.tensor_type
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
        halved = precision in ("fp16", "bf16") and (dtype, spec.dtype) == ("float32", "float16")
        if dtype != spec.dtype and not halved:
            problems.append(f"{spec.name}: endpoint dtype {spec.dtype}, source {dtype}")
        if len(dims) != len(spec.shape) or any(a != b and -1 not in (a, b) for a, b in zip(dims, spec.shape,
                                                                                         strict=False)):
            problems.append(f"{spec.name}: endpoint shape {list(spec.shape)}, source {dims}")
    return problems


def _paired(model: onnx.ModelProto, served: Interface) -> list[tuple[TensorSpec, onnx.ValueInfoProto]]:
    """Each tensor the endpoint declares with the source's value of its name; inputs and outputs are separate
    namespaces (an output may be named like an input)."""
    inputs = {v.name: v for v in model.graph.input}
    outputs = source_outputs(model)
    return [(spec, values[spec.name]) for specs, values in ((served.inputs, inputs), (served.outputs, outputs))
            for spec in specs if spec.name in values]


def _probe_refusals(client: Client, feeds: dict[str, np.ndarray]) -> list[str]:
    """Malformed requests must get a 4xx (and the server must still answer afterwards)."""
    first = next(iter(feeds))
    wrong_shape = {**{n: a.tolist() for n, a in feeds.items()}, first: [[[0.5]]]}
    probes = {"a body that is not JSON": b"{not json",
              "an unknown input name": {"inputs": {"no_such_input__": [1.0]}},
              "a wrong shape": {"inputs": wrong_shape}}
    if client.protocol == "v2":
        probes["an unknown input name"] = {"inputs": [{"name": "no_such_input__", "shape": [1], "datatype": "FP32",
                                                       "data": [1.0]}]}
        probes["a wrong shape"] = {"inputs": [{"name": first, "shape": [1, 1, 1], "datatype": "FP32",
                                               "data": [0.5]}]}
    problems = []
    for what, body in probes.items():
        status, answer = client.post(client.infer_path(), body)
        if not 400 <= status < 500:
            problems.append(f"the endpoint answered {what} with HTTP {status}, expected 4xx")
    if not client.healthy():
        problems.append("the endpoint stopped answering after the malformed requests")
    return problems
