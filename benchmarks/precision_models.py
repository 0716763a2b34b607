"""The models `bench_precision.py` builds in every precision: four families from configs, seeded, batch norms
holding the statistics of their calibration-like inputs (so that outputs depend on the input)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from runtime_models import SEQUENCE, bert, resnet50  # noqa: E402  (the same encoder and ResNet as bench_runtimes)

__all__ = ["resnet50", "bert", "vit", "calibrated_resnet50", "mobilenet_v2_keras", "classifier_head", "data", "IMAGE",
           "mobilenet_v2_trained", "gratings"]

IMAGE = 224


def calibrated_resnet50():
    """bench_runtimes' ResNet-50 with batch norms holding the statistics of standard-normal images."""
    model, example = resnet50()
    for layer in model.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.momentum = None  # a plain average over the batches
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 3, IMAGE, IMAGE, generator=torch.Generator().manual_seed(7)))
    return model.eval(), example


TRAINED_IMAGE = 96  # mobilenet_v2_trained's input side: a few minutes of training on two CPU cores
ORIENTATIONS = 10  # gratings' classes: bins of orientation over half a turn


def mobilenet_v2_trained(path: Path, steps: int = 800, batch: int = 32, classes: int = 1000) -> Path:
    """keras.applications' MobileNetV2 (alpha 1.0, 96x96, its 1000-class head) trained from seeded random weights
    with Adam on gratings (a fresh seeded batch each step; the labels are the first ORIENTATIONS classes), saved at
    `path`: trained weights, as int8 builds meet in use."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(weights=None, alpha=1.0, input_shape=(TRAINED_IMAGE, TRAINED_IMAGE, 3),
                                           classes=classes)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9  # keras' 0.999 leaves the moving statistics far from the data after hundreds of steps
    rate = keras.optimizers.schedules.CosineDecay(1e-3, steps)  # 500 steps at 1e-3 left it at 79% held out
    model.compile(optimizer=keras.optimizers.Adam(rate), loss="sparse_categorical_crossentropy")
    for step in range(steps):
        images, labels = gratings(batch, seed=1000 + step)
        model.train_on_batch(images, labels)
    model.save(path)
    return path


def gratings(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded NHWC images in [-1, 1] and their classes: a coloured grating of random frequency and phase whose
    orientation lies near the centre of its class's bin, on a random brightness, with noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:TRAINED_IMAGE, 0:TRAINED_IMAGE] / TRAINED_IMAGE
    labels = rng.integers(0, ORIENTATIONS, rows)
    images = []
    for label in labels:
        angle = (label + rng.uniform(-0.3, 0.3)) * np.pi / ORIENTATIONS  # a margin of 0.2 bin between classes
        frequency, phase = rng.uniform(3, 12), rng.uniform(0, 2 * np.pi)
        colour = rng.normal(0, 1, 3)
        colour *= rng.uniform(0.3, 0.7) / np.linalg.norm(colour)
        wave = np.cos(2 * np.pi * frequency * (x * np.cos(angle) + y * np.sin(angle)) + phase)
        image = wave[..., None] * colour + rng.uniform(-0.2, 0.2) + rng.normal(0, 0.2, (*wave.shape, 3))
        images.append(np.clip(image, -1, 1))
    return np.stack(images).astype("float32"), labels.astype("int64")


def vit():
    """A ViT-class encoder: 4 layers, hidden 256, 4 heads, patch 16 at 224x224, random weights."""
    from transformers import ViTConfig, ViTModel

    torch.manual_seed(0)
    config = ViTConfig(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024,
                       image_size=IMAGE, patch_size=16)
    return ViTModel(config, add_pooling_layer=False).eval(), (torch.randn(1, 3, IMAGE, IMAGE),)


def mobilenet_v2_keras(path: Path, classes: int = 10, kind: str = "texture_nhwc") -> Path:
    """keras.applications' MobileNetV2 (alpha 1.0, 224x224, random weights) saved at `path`: its batch norms set to
    the statistics of images in [-1, 1] (momentum 0: one training-mode pass sets them), and its classifier a real
    one (classifier_head), so that its decisions have margins an int8 build can keep or lose."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(weights=None, input_shape=(IMAGE, IMAGE, 3), classes=classes)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    model(data(kind, 16, seed=7)["image"], training=True)
    pooled = keras.Model(model.input, model.get_layer("predictions").input)
    features = np.concatenate([pooled.predict(data(kind, 64, seed=100 + chunk)["image"], verbose=0)
                               for chunk in range(_FIT_CHUNKS)])
    model.get_layer("predictions").set_weights(classifier_head(features, classes))
    model.save(path)
    return path


_FIT_CHUNKS = 8  # 512 images (seeds 100..107: neither calibration's nor held-out's) the head is fitted on
_COMPONENTS = 16  # the classes are clusters in the features' main directions of variation
_MARGIN = 4.0  # logits: the median gap between the first and second class, so the softmax is confident


def classifier_head(features: np.ndarray, classes: int) -> list[np.ndarray]:
    """The Dense weights [kernel, bias] of a nearest-centroid classifier: k-means clusters of the standardized
    features projected on their top principal components, a linear function of the features (-|z - c|^2 is one,
    up to a term the same for every class), scaled so that the median top-1 margin is _MARGIN."""
    mean, std = features.mean(0), features.std(0) + 1e-6
    standard = (features - mean) / std
    _, _, axes = np.linalg.svd(standard - standard.mean(0), full_matrices=False)
    projection = axes[:_COMPONENTS].T
    centroids = _kmeans(standard @ projection, classes)
    kernel = (projection @ (2 * centroids.T)) / std[:, None]  # features -> 2 c.z, z standardized and projected
    bias = -2 * (mean / std) @ projection @ centroids.T - (centroids ** 2).sum(1)
    logits = features @ kernel + bias
    top = np.sort(logits, axis=1)
    scale = _MARGIN / np.median(top[:, -1] - top[:, -2])
    return [(kernel * scale).astype("float32"), (bias * scale).astype("float32")]


def _kmeans(points: np.ndarray, count: int, rounds: int = 50) -> np.ndarray:
    """Lloyd's k-means from seeded points: the centroids."""
    centroids = points[np.random.default_rng(0).choice(len(points), count, replace=False)]
    for _ in range(rounds):
        nearest = ((points[:, None] - centroids[None]) ** 2).sum(-1).argmin(1)
        centroids = np.stack([points[nearest == k].mean(0) if (nearest == k).any() else centroids[k]
                              for k in range(count)])
    return centroids


def data(kind: str, rows: int, seed: int) -> dict[str, np.ndarray]:
    """Seeded inputs: images in [-1, 1] (NCHW or NHWC) or token ids; `seed` tells calibration and held-out apart."""
    rng = np.random.default_rng(seed)
    if kind == "texture_nhwc":
        return {"image": np.stack([_texture(rng) for _ in range(rows)])}
    if kind == "image_nhwc":
        return {"image": rng.uniform(-1, 1, (rows, IMAGE, IMAGE, 3)).astype("float32")}
    if kind == "image_nchw":
        return {"image": rng.uniform(-1, 1, (rows, 3, IMAGE, IMAGE)).astype("float32")}
    return {"ids": rng.integers(0, 30522, (rows, SEQUENCE)).astype("int64")}


def _texture(rng: np.random.Generator, waves: int = 3) -> np.ndarray:
    """An HWC image in [-1, 1]: a few coloured gratings of random frequency, orientation and phase, and some noise;
    images that differ as photos do (in their structure), where uniform noise images differ only by chance."""
    y, x = np.mgrid[0:IMAGE, 0:IMAGE] / IMAGE
    image = np.zeros((IMAGE, IMAGE, 3))
    for _ in range(waves):
        frequency, angle, phase = rng.uniform(1, 24), rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
        wave = np.cos(2 * np.pi * frequency * (x * np.cos(angle) + y * np.sin(angle)) + phase)
        image += wave[..., None] * rng.normal(0, 0.4, 3)
    image += rng.normal(0, 0.1, image.shape)
    return np.clip(image, -1, 1).astype("float32")
