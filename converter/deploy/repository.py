"""What `serve` serves: one artifact, a TF Serving base with models.config, or a Triton model repository."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from converter.core.errors import GraphtoolError
from converter.core.naming import model_name
from converter.deploy.errors import NotFound
from converter.deploy.interface import Interface
from converter.deploy.served import INTERFACE_FILE, ServedModel, load_served

__all__ = ["Repository", "Entry", "load_repository"]


@dataclass
class Entry:
    """A model's loaded versions and its labels."""

    name: str
    versions: dict[int, ServedModel] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    warmup: int = 0  # warmup requests replayed at load


@dataclass
class Repository:
    """The served models by name; resolves a request's name, version or label to one ServedModel."""

    models: dict[str, Entry]

    def entry(self, name: str) -> Entry:
        if name not in self.models:
            raise NotFound(f"Servable not found for request: Latest({name}); served: {', '.join(self.models)}")
        return self.models[name]

    def resolve(self, name: str, version: str | int | None = None, label: str | None = None) -> ServedModel:
        entry = self.entry(name)
        if label is not None:
            if label not in entry.labels:
                raise NotFound(f"Servable not found for request: Specific({name}, label {label}); labels: "
                               f"{', '.join(entry.labels) or 'none'}")
            version = entry.labels[label]
        if version is None:
            return entry.versions[max(entry.versions)]
        number = int(version) if str(version).isdigit() else None
        if number not in entry.versions:
            raise NotFound(f"Servable not found for request: Specific({name}, {version}); versions: "
                           f"{', '.join(map(str, sorted(entry.versions)))}")
        return entry.versions[number]


def load_repository(path: Path, name: str | None = None, trust_code: bool = False) -> Repository:
    """Load every model and version under `path` in its own runtime, each audited first; warmup files are replayed."""
    if not path.exists():
        raise GraphtoolError(f"{path}: does not exist; expected a model file or a folder `graphtool package` wrote")
    if (path / "models.config").exists():
        return _tf_serving(path, trust_code)
    if path.is_dir() and any(path.glob("*/config.pbtxt")):
        return _triton(path, trust_code)
    if path.is_dir() and any(path.glob("*.mar")):
        raise GraphtoolError(f"{path}: a TorchServe model store; serve it with torchserve --model-store {path} "
                             f"--ts-config {path / 'config.properties'}")
    model = load_served(path, name or model_name(path), trust_code=trust_code)
    return Repository({model.name: Entry(model.name, {1: model})})


def _tf_serving(base: Path, trust_code: bool) -> Repository:
    from converter.deploy.tfserving import WARMUP, read_config, replay_warmup, versions_in

    models = {}
    for config in read_config(base / "models.config").model_config_list.config:
        folder = Path(config.base_path)
        folder = folder if folder.is_absolute() else base / folder
        present = versions_in(folder)
        policy = config.model_version_policy
        which = policy.WhichOneof("policy_choice")
        if which == "specific":
            versions = [v for v in policy.specific.versions if v in present]
        elif which == "all":
            versions = present
        else:  # latest, TF Serving's default: one version unless num_versions says more
            versions = present[-max(1, policy.latest.num_versions):]
        if not versions:
            raise GraphtoolError(f"{base / 'models.config'}: model {config.name} has no version folder under {folder}")
        entry = Entry(config.name, labels=dict(config.version_labels))
        for version in versions:
            served = load_served(folder / str(version), config.name, version, trust_code=trust_code)
            entry.warmup += replay_warmup(folder / str(version) / WARMUP, served)
            entry.versions[version] = served
        models[config.name] = entry
    return Repository(models)


def _triton(base: Path, trust_code: bool) -> Repository:
    from converter.deploy.tfserving import versions_in
    from converter.deploy.triton import FILES, read_config

    models = {}
    for config_path in sorted(base.glob("*/config.pbtxt")):
        config = read_config(config_path)
        folder = config_path.parent
        fmt = next((f for f, file in FILES.items() if any((folder / str(v) / file).exists()
                                                            for v in versions_in(folder))), None)
        if fmt is None:
            raise GraphtoolError(f"{folder}: no version folder holds model.onnx, model.pt or model.savedmodel")
        entry = Entry(config.name or folder.name)
        for version in versions_in(folder):
            recorded = folder / str(version) / INTERFACE_FILE
            interface = Interface.read(recorded) if recorded.exists() else None
            entry.versions[version] = load_served(folder / str(version) / FILES[fmt], entry.name, version, interface,
                                                  trust_code)
        models[entry.name] = entry
    return Repository(models)
