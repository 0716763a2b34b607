"""Which ops count as pure computation, per framework; everything else is a finding."""

from __future__ import annotations

import re

__all__ = [
    "TF_STATEFUL_PURE", "tf_category", "TORCH_NAMESPACES", "torch_category", "ONNX_STANDARD_DOMAINS",
    "ORT_CONTRIB_DOMAINS", "TF_CHECKPOINT_OPS", "TF_PRINTS", "TORCH_PRINTS",
]

# Printing to the console is allowed (a debugging aid), but named, since no converted model prints.
TF_PRINTS = frozenset({"PrintV2", "Print"})
TORCH_PRINTS = frozenset({"prim::Print", "aten::_print"})

# TensorFlow marks these stateful, yet they touch only the model's own variables or call its own functions.
TF_STATEFUL_PURE = frozenset({
    "VarHandleOp", "ReadVariableOp", "AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp",
    "ResourceGather", "ResourceGatherNd", "VariableShape", "VarIsInitializedOp", "DestroyResourceOp",
    "DisableCopyOnRead", "StatefulPartitionedCall", "If", "While", "Case", "Assert", "NoOp",
    "HashTableV2", "MutableHashTableV2", "LookupTableFindV2", "LookupTableSizeV2", "LookupTableImportV2",
    "InitializeTableV2", "Placeholder", "PlaceholderWithDefault",
})

# Stateless to TensorFlow, but they read the file system or map files into memory.
_TF_READS = frozenset({"ReadFile", "MatchingFiles", "ImmutableConst", "LoadAndRemapMatrix", "DecodeCSV_File"})
_TF_PATTERNS = (
    (re.compile(r"File|Directory|Save|Restore|Checkpoint|Snapshot|Sql|LMDB"), "file system"),
    (re.compile(r"Print|Summary|Debug"), "printing or logging"),
    (re.compile(r"Queue|Reader|Record|Dataset|Iterator|Barrier"), "queues and readers"),
    (re.compile(r"Random|Multinomial|Shuffle|Rng|Seed|Candidate"), "random seeds from the environment"),
    (re.compile(r"Py|Func|Rpc|Remote|Send|Recv|Collective|Nccl|Tpu|TPU|Distributed"), "runs code or talks to "
     "other processes"),
)
# The checkpoint functions a SavedModel carries read and write only the model's own variables/ folder.
TF_CHECKPOINT_OPS = frozenset({"SaveV2", "RestoreV2", "MergeV2Checkpoints", "ShardedFilename", "StringJoin",
                               "StaticRegexFullMatch"})


def tf_category(op: str, op_def: object | None) -> str | None:
    """None when `op` is pure computation; otherwise why it is not, in a few words."""
    if op in TF_STATEFUL_PURE:
        return None
    if op_def is None:
        return "not a TensorFlow op (a custom kernel)"
    if op in _TF_READS:
        return "file system"
    if op.startswith("Stateless"):  # seeded by their inputs: deterministic
        return None
    for pattern, category in _TF_PATTERNS:
        if pattern.search(op):
            return category
    if getattr(op_def, "is_stateful", True):
        return "stateful, not known to be pure"
    return None


TORCH_NAMESPACES = frozenset({"aten", "prim", "quantized", "_quantized", "_operator", "higher_order"})
_TORCH_DENIED = {
    "aten::from_file": "file system", "aten::save": "file system", "aten::manual_seed": "random seeds",
    "aten::seed": "random seeds from the environment",
    "aten::initial_seed": "random seeds", "prim::PythonOp": "runs Python code",
}
_TORCH_RANDOM = re.compile(r"^aten::(_?rand|bernoulli|normal|log_normal|multinomial|random|_philox|exponential|"
                           r"geometric|cauchy|uniform|poisson|_standard_gamma|_sample_dirichlet|_no_grad_normal|"
                           r"_no_grad_uniform)")


def torch_category(kind: str) -> str | None:
    """None when a TorchScript or ExportedProgram op is pure computation; otherwise why it is not."""
    if kind in _TORCH_DENIED:
        return _TORCH_DENIED[kind]
    if _TORCH_RANDOM.match(kind):
        return "random numbers from a generator outside the model"
    namespace = kind.split("::", 1)[0]
    if namespace not in TORCH_NAMESPACES:
        return f"custom op namespace '{namespace}', not known to be pure"
    return None


ONNX_STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training", "ai.onnx.preview"})
ORT_CONTRIB_DOMAINS = frozenset({"com.microsoft", "com.microsoft.nchwc", "com.ms.internal.nhwc"})
