"""The wire formats, as pure translations: TF Serving REST v1 and the Open Inference Protocol v2, to and from numpy."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from converter.deploy.errors import BadRequest
from converter.deploy.interface import TF_DTYPES, V2_DTYPES, Interface, numpy_dtype, wire_dtype
from converter.deploy.served import ServedModel

__all__ = ["v1_status", "v1_metadata", "v1_feeds", "v1_answer", "v2_metadata", "v2_feeds", "v2_answer", "dumps"]


def dumps(document: Any) -> bytes:
    """JSON as TF Serving writes it: NaN and Infinity stay readable instead of failing the response."""
    return json.dumps(document, separators=(",", ":")).encode()


def v1_status(models: list[ServedModel]) -> dict:
    """GET /v1/models/NAME: every served version AVAILABLE."""
    return {"model_version_status": [{"version": str(m.version), "state": "AVAILABLE",
                                      "status": {"error_code": "OK", "error_message": ""}} for m in models]}


def v1_metadata(model: ServedModel) -> dict:
    """GET .../metadata: the serving_default SignatureDef in TF Serving's snake_case JSON."""
    def tensors(specs) -> dict:
        return {s.name: {"dtype": TF_DTYPES.get(wire_dtype(s.dtype), "DT_INVALID"),
                         "name": f"serving_default_{s.name}:0",
                         "tensor_shape": {"dim": [{"size": str(d), "name": ""} for d in s.shape],
                                          "unknown_rank": False}} for s in specs}

    signature = {"inputs": tensors(model.interface.inputs), "outputs": tensors(model.interface.outputs),
                 "method_name": "tensorflow/serving/predict"}
    return {"model_spec": {"name": model.name, "signature_name": "", "version": str(model.version)},
            "metadata": {"signature_def": {"signature_def": {"serving_default": signature}}}}


def v1_feeds(body: Any, interface: Interface) -> tuple[dict[str, Any], str]:
    """A :predict body to inputs and its form ('row' or 'columnar'); one line on what is wrong otherwise."""
    if not isinstance(body, dict):
        raise BadRequest('expected a JSON object with "instances" (row form) or "inputs" (columnar form)')
    if body.get("signature_name", "serving_default") != "serving_default":
        raise BadRequest(f"signature '{body['signature_name']}' not found; the model serves serving_default")
    names = [s.name for s in interface.inputs]
    if ("instances" in body) == ("inputs" in body):
        raise BadRequest('expected exactly one of "instances" (row form) or "inputs" (columnar form)')
    if "instances" in body:
        rows = body["instances"]
        if not isinstance(rows, list) or not rows:
            raise BadRequest('"instances" must be a non-empty list, one item per example')
        if all(isinstance(r, dict) for r in rows):
            return {n: [_b64(r.get(n)) for r in rows] for n in {k for r in rows for k in r} | set(names)}, "row"
        if len(names) != 1:
            raise BadRequest(f"the model takes {', '.join(names)}: each instance must be an object keyed by them")
        return {names[0]: rows}, "row"
    given = body["inputs"]
    if isinstance(given, dict):
        return dict(given), "columnar"
    if len(names) != 1:
        raise BadRequest(f"the model takes {', '.join(names)}: \"inputs\" must be an object keyed by them")
    return {names[0]: given}, "columnar"


def _b64(value: Any) -> Any:
    if isinstance(value, dict):
        raise BadRequest('binary {"b64": ...} values are for string tensors; this model takes numbers')
    return value


def v1_answer(outputs: Mapping[str, np.ndarray], form: str) -> dict:
    """Row form: {"predictions": [...]} (objects when there are several outputs); columnar: {"outputs": ...}."""
    names = list(outputs)
    if form == "columnar":
        return {"outputs": outputs[names[0]].tolist() if len(names) == 1
                else {n: a.tolist() for n, a in outputs.items()}}
    if len(names) == 1:
        return {"predictions": outputs[names[0]].tolist()}
    rows = min(len(a) if a.ndim else 1 for a in outputs.values())
    return {"predictions": [{n: a[i].tolist() for n, a in outputs.items()} for i in range(rows)]}


def v2_metadata(model: ServedModel, versions: list[int]) -> dict:
    """GET /v2/models/NAME: name, versions, platform and tensors in OIP's form."""
    def tensors(specs) -> list:
        return [{"name": s.name, "datatype": V2_DTYPES.get(wire_dtype(s.dtype), "BYTES"), "shape": list(s.shape)}
                for s in specs]

    return {"name": model.name, "versions": [str(v) for v in versions], "platform": model.runtime,
            "inputs": tensors(model.interface.inputs), "outputs": tensors(model.interface.outputs)}


def v2_feeds(header: Any, binary: bytes = b"") -> tuple[dict[str, np.ndarray], list[str] | None]:
    """An inference request (JSON, with the binary tensor extension) to arrays and the outputs asked for."""
    if not isinstance(header, dict) or not isinstance(header.get("inputs"), list) or not header["inputs"]:
        raise BadRequest('expected {"inputs": [{"name", "shape", "datatype", "data"}, ...]}')
    feeds, offset = {}, 0
    for item in header["inputs"]:
        if not isinstance(item, dict) or not {"name", "shape", "datatype"} <= set(item):
            raise BadRequest("each input needs name, shape and datatype")
        dtype = numpy_dtype(str(item["datatype"]))
        if dtype is None or dtype == "object":
            raise BadRequest(f"input '{item['name']}': datatype {item['datatype']} is not served; "
                             f"use one of {', '.join(v for v in V2_DTYPES.values() if v != 'BYTES')}")
        shape = item["shape"]
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise BadRequest(f"input '{item['name']}': shape must be a list of non-negative integers")
        size = (item.get("parameters") or {}).get("binary_data_size")
        try:
            if size is not None:
                array = np.frombuffer(binary[offset:offset + int(size)], dtype=dtype)
                offset += int(size)
            elif "data" in item:
                array = np.asarray(item["data"], dtype=dtype)
            else:
                raise BadRequest(f"input '{item['name']}': no data")
            feeds[str(item["name"])] = array.reshape(shape)
        except (ValueError, TypeError) as error:
            raise BadRequest(f"input '{item['name']}': the data does not fill shape {shape} as {dtype}") from error
    wanted = header.get("outputs")
    names = [o.get("name") for o in wanted if isinstance(o, dict)] if isinstance(wanted, list) else None
    return feeds, names


def v2_answer(model: ServedModel, outputs: Mapping[str, np.ndarray], wanted: list[str] | None, request_id: Any) -> dict:
    """The inference response: every output (or those asked for) as JSON data."""
    if wanted:
        unknown = [n for n in wanted if n not in outputs]
        if unknown:
            raise BadRequest(f"unknown output '{unknown[0]}'; the model returns {', '.join(outputs)}")
    chosen = wanted or list(outputs)
    answer = {"model_name": model.name, "model_version": str(model.version),
              "outputs": [{"name": n, "datatype": V2_DTYPES.get(outputs[n].dtype.name, "BYTES"),
                           "shape": list(outputs[n].shape), "data": outputs[n].ravel().tolist()} for n in chosen]}
    if request_id is not None:
        answer["id"] = request_id
    return answer
