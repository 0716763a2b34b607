"""Detection post-processing: NonMaxSuppression (per batch and class, with static batch/class counts)."""

from __future__ import annotations

import tensorflow as tf

from converter.targets.tf.node import Node
from converter.targets.tf.registry import tf_ops

__all__: list[str] = []


def _corners(boxes, center: bool):
    if not center:
        return boxes
    x, y, w, h = tf.unstack(boxes, axis=-1)
    return tf.stack([y - h / 2, x - w / 2, y + h / 2, x + w / 2], -1)


@tf_ops.register("NonMaxSuppression", since=10)
def non_max_suppression(node: Node, boxes, scores, max_per_class=None, iou=None, score_threshold=None):
    boxes = tf.cast(boxes, tf.float32)
    scores = tf.cast(scores, tf.float32)
    batches, classes = boxes.shape[0], scores.shape[1]
    if batches is None or classes is None:
        raise node.unsupported("batch and class counts must be static")
    limit = tf.constant(0, tf.int32) if max_per_class is None else tf.cast(tf.reshape(max_per_class, []), tf.int32)
    limit = tf.minimum(limit, tf.shape(boxes)[1])
    iou = 0.0 if iou is None else tf.reshape(tf.cast(iou, tf.float32), [])
    threshold = float("-inf") if score_threshold is None else tf.reshape(tf.cast(score_threshold, tf.float32), [])
    corners = _corners(boxes, bool(node.attr("center_point_box", 0)))
    rows = []
    for b in range(batches):
        for c in range(classes):
            picked = tf.image.non_max_suppression(corners[b], scores[b, c], limit, iou, threshold)
            picked = tf.cast(picked, tf.int64)[:, None]
            prefix = tf.broadcast_to(tf.constant([[b, c]], tf.int64), tf.stack([tf.shape(picked)[0], 2]))
            rows.append(tf.concat([prefix, picked], 1))
    return tf.concat(rows, 0)
