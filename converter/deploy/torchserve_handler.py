"""TorchServe handler packed into every .mar: JSON lists, TF Serving and Open Inference Protocol v2 bodies.

It runs inside TorchServe's worker, without graphtool: it imports only torch, numpy and the standard library.
"""

from __future__ import annotations

import json
import os

import numpy as np

V2 = {"BOOL": "bool", "UINT8": "uint8", "INT8": "int8", "INT16": "int16", "INT32": "int32", "INT64": "int64",
      "FP16": "float16", "FP32": "float32", "FP64": "float64"}
TO_V2 = {v: k for k, v in V2.items()}


class BadInput(ValueError):
    """The client's body is wrong; answered with 400 and a JSON error."""


class Handler:
    """Loads model.pt2 or model.ts with interface.json, and answers each request in the form it came in."""

    def __init__(self) -> None:
        self.initialized = False

    def initialize(self, context) -> None:
        import torch

        folder = context.system_properties.get("model_dir")
        with open(os.path.join(folder, "interface.json")) as file:
            self.interface = json.load(file)
        pt2 = os.path.join(folder, "model.pt2")
        if os.path.exists(pt2):
            self.module = torch.export.load(pt2).module()
        else:
            self.module = torch.jit.load(os.path.join(folder, "model.ts"), map_location="cpu")
        self.initialized = True

    def handle(self, data, context):
        responses = []
        for index, row in enumerate(data):
            try:
                responses.append(self.answer(_body(row)))
            except BadInput as error:
                context.set_response_status(400, str(error), index)
                responses.append({"error": str(error)})
        return responses

    def answer(self, body):
        inputs = self.interface["inputs"]
        names = [i["name"] for i in inputs]
        if isinstance(body, list):
            if len(names) != 1:
                raise BadInput(f"a JSON list feeds one input; this model takes {', '.join(names)}: send "
                               '{"inputs": {NAME: values}}')
            return self.rows(self.run({names[0]: body}))
        if not isinstance(body, dict):
            raise BadInput('expected a JSON list, {"instances": [...]}, {"inputs": {...}} or a v2 inference body')
        if isinstance(body.get("inputs"), list) and all(isinstance(i, dict) and "datatype" in i
                                                        for i in body["inputs"]):
            return self.v2(body)
        if "instances" in body:
            rows = body["instances"]
            if not isinstance(rows, list) or not rows:
                raise BadInput('"instances" must be a non-empty list')
            if isinstance(rows[0], dict):
                feeds = {n: [r.get(n) for r in rows] for n in names}
            elif len(names) == 1:
                feeds = {names[0]: rows}
            else:
                raise BadInput(f"instances must be objects keyed by {', '.join(names)}")
            return {"predictions": self.rows(self.run(feeds))}
        if "inputs" in body:
            given = body["inputs"]
            feeds = given if isinstance(given, dict) else {names[0]: given} if len(names) == 1 else None
            if feeds is None:
                raise BadInput(f'"inputs" must be an object keyed by {", ".join(names)}')
            results = self.run(feeds)
            outputs = [o["name"] for o in self.interface["outputs"]]
            return {"outputs": dict(zip(outputs, (r.tolist() for r in results), strict=True))}
        raise BadInput('expected "instances" or "inputs" in the JSON object')

    def v2(self, body):
        feeds = {}
        for item in body["inputs"]:
            dtype = V2.get(item.get("datatype"))
            if dtype is None or "name" not in item or "data" not in item or "shape" not in item:
                raise BadInput("a v2 input needs name, shape, datatype (BOOL, INT*, FP*) and data")
            try:
                feeds[item["name"]] = np.asarray(item["data"], dtype=dtype).reshape(item["shape"])
            except (ValueError, TypeError) as error:
                raise BadInput(f"input '{item['name']}': data does not fill shape {item['shape']}") from error
        results = self.run(feeds)
        outputs = [{"name": o["name"], "datatype": TO_V2.get(r.dtype.name, "BYTES"), "shape": list(r.shape),
                    "data": r.ravel().tolist()} for o, r in zip(self.interface["outputs"], results, strict=True)]
        return {"model_name": body.get("model_name", ""), "id": body.get("id", ""), "outputs": outputs}

    def rows(self, results):
        if len(results) == 1:
            return results[0].tolist()
        names = [o["name"] for o in self.interface["outputs"]]
        return [dict(zip(names, (r[i].tolist() for r in results), strict=True)) for i in range(len(results[0]))]

    def run(self, feeds):
        import torch

        specs = self.interface["inputs"]
        unknown = sorted(set(feeds) - {s["name"] for s in specs})
        if unknown:
            raise BadInput(f"unknown input '{unknown[0]}'; the model takes {', '.join(s['name'] for s in specs)}")
        arguments = []
        for spec in specs:
            if feeds.get(spec["name"]) is None:
                raise BadInput(f"missing input '{spec['name']}'")
            try:
                array = np.asarray(feeds[spec["name"]])
                if array.dtype == object or array.dtype.kind in "US":
                    raise ValueError
                # numpy has no bfloat16 of its own: such an input is read as float32 and cast by torch
                bfloat16 = spec["dtype"] == "bfloat16"
                array = np.ascontiguousarray(array.astype("float32" if bfloat16 else spec["dtype"]))
            except (ValueError, TypeError) as error:
                raise BadInput(f"input '{spec['name']}': expected {spec['dtype']} numbers") from error
            dims = spec["shape"]
            if array.ndim != len(dims) or any(d not in (-1, s) for d, s in zip(dims, array.shape, strict=True)):
                raise BadInput(f"input '{spec['name']}': shape {list(array.shape)} does not fit {dims} (-1: any)")
            tensor = torch.from_numpy(array)
            arguments.append(tensor.to(torch.bfloat16) if bfloat16 else tensor)
        try:
            with torch.no_grad():
                result = self.module(*arguments)
        except RuntimeError as error:
            raise BadInput(f"the model rejected the input: {str(error).strip().splitlines()[0][:200]}") from error
        if isinstance(result, dict):  # graphtool's pt2 and TorchScript files return {output name: tensor}
            result = tuple(result.values())
        results = result if isinstance(result, (tuple, list)) else (result,)
        # bfloat16 answers as float32 (exact): numpy and JSON have no bfloat16
        return [(r.float() if r.dtype == torch.bfloat16 else r).detach().cpu().numpy() for r in results]


def _body(row):
    body = row.get("body", row.get("data")) if isinstance(row, dict) else row
    if isinstance(body, (bytes, bytearray)):
        try:
            return json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise BadInput(f"the body is not JSON: {error}") from error
    return body


_service = Handler()


def handle(data, context):
    """TorchServe's entry point: initialize on first use, then answer each request of the batch."""
    if not _service.initialized:
        _service.initialize(context)
    if data is None:
        return None
    return _service.handle(data, context)
