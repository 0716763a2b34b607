"""Attention (opset 23+): scaled dot-product attention with masks, KV cache, GQA and softcap."""

from __future__ import annotations

import math

import tensorflow as tf

from converter.targets.tf.dtypes import tf_dtype
from converter.targets.tf.node import Node
from converter.targets.tf.registry import tf_ops

__all__: list[str] = []


def _heads(x, count):
    """(batch, seq, heads * size) -> (batch, heads, seq, size)."""
    shape = tf.shape(x)
    return tf.transpose(tf.reshape(x, tf.stack([shape[0], shape[1], count, -1])), [0, 2, 1, 3])


def _bias(node: Node, q, k, mask, past_len, nonpad):
    """Additive bias (0 or -inf) of shape broadcastable to (batch, heads, q_len, kv_len)."""
    dtype = q.dtype
    q_len, kv_len = tf.shape(q)[2], tf.shape(k)[2]
    bias = tf.zeros(tf.stack([q_len, kv_len]), dtype)
    if mask is not None:
        mask = tf.convert_to_tensor(mask)
        width = kv_len - tf.shape(mask)[-1]
        paddings = tf.concat([tf.zeros([len(mask.shape) - 1, 2], tf.int32), [[0, width]]], 0)
        if mask.dtype == tf.bool:
            mask = tf.pad(mask, paddings, constant_values=False)
            mask = tf.where(mask, tf.zeros([], dtype), tf.constant(-math.inf, dtype))
        else:
            mask = tf.pad(tf.cast(mask, dtype), paddings, constant_values=-math.inf)
        bias = bias + mask
    rows = tf.range(q_len)[:, None]
    cols = tf.range(kv_len)[None, :]
    if past_len is None and nonpad is not None:
        offset = tf.reshape(tf.cast(nonpad, tf.int32) - q_len, [-1, 1, 1, 1])
    else:
        offset = 0 if past_len is None else past_len
    diff = rows + offset - cols
    allowed = diff >= 0 if node.attr("is_causal", 0) else tf.ones_like(diff, tf.bool)
    left, right = node.attr("left_window_size", -1), node.attr("right_window_size", -1)
    if left >= 0:
        allowed &= diff <= left
    if right >= 0:
        allowed &= -diff <= right
    if node.attr("is_causal", 0) or left >= 0 or right >= 0:
        bias = bias + tf.where(allowed, tf.zeros([], dtype), tf.constant(-math.inf, dtype))
    if nonpad is not None:
        keep = tf.range(kv_len)[None, :] < tf.cast(nonpad, tf.int32)[:, None]
        pad = tf.where(keep, tf.zeros([], dtype), tf.constant(-math.inf, dtype))
        bias = bias + pad[:, None, None, :]
    return bias


@tf_ops.register("Attention", since=23)
def attention(node: Node, q, k, v, mask=None, past_key=None, past_value=None, nonpad=None):
    q, k, v = (tf.convert_to_tensor(t) for t in (q, k, v))
    if q.dtype in (tf.float16, tf.bfloat16):
        # Accumulate in float32 as onnxruntime does, and return the input type.
        wide = [None if t is None else tf.cast(t, tf.float32) for t in (q, k, v, past_key, past_value)]
        if mask is not None and tf.convert_to_tensor(mask).dtype != tf.bool:
            mask = tf.cast(mask, tf.float32)
        outputs = attention(node, *wide[:3], mask, wide[3], wide[4], nonpad)
        return [tf.cast(o, q.dtype) for o in outputs]
    three_d = len(q.shape) == 3
    if three_d:
        q = _heads(q, node.attr("q_num_heads"))
        k = _heads(k, node.attr("kv_num_heads"))
        v = _heads(v, node.attr("kv_num_heads"))
    past_len = None if past_key is None else tf.shape(past_key)[2]
    if past_key is not None:
        k = tf.concat([tf.cast(past_key, k.dtype), k], 2)
        v = tf.concat([tf.cast(past_value, v.dtype), v], 2)
    present_key, present_value = k, v
    groups = q.shape[1] // k.shape[1] if q.shape[1] and k.shape[1] else 1
    if groups > 1:
        k, v = tf.repeat(k, groups, axis=1), tf.repeat(v, groups, axis=1)
    scale = node.attr("scale", 1.0 / math.sqrt(q.shape[-1]))
    root = tf.cast(math.sqrt(scale), q.dtype)
    scores = tf.linalg.matmul(q * root, k * root, transpose_b=True)
    softcap = node.attr("softcap", 0.0)
    if softcap:
        scores = softcap * tf.math.tanh(scores / softcap)
    bias = _bias(node, q, k, mask, past_len, nonpad)
    with_bias = scores + bias
    qk_output = with_bias if node.attr("qk_matmul_output_mode", 0) == 2 else scores
    precision = tf_dtype(node.attr("softmax_precision")) if node.attr("softmax_precision") else None
    logits = tf.cast(with_bias, precision) if precision is not None else with_bias
    row_max = tf.reduce_max(logits, -1, keepdims=True)
    masked_row = tf.math.is_inf(row_max) & (row_max < 0)
    safe = tf.exp(logits - tf.where(masked_row, tf.zeros_like(row_max), row_max))
    total = tf.reduce_sum(safe, -1, keepdims=True)
    probs = safe / tf.where(total == 0, tf.ones_like(total), total)
    all_masked = tf.reduce_max(tf.broadcast_to(bias, tf.shape(with_bias)), -1, keepdims=True)
    probs = tf.where(tf.math.is_inf(all_masked) & (all_masked < 0), tf.zeros_like(probs), probs)
    if node.attr("qk_matmul_output_mode", 0) == 3:
        qk_output = probs
    y = tf.linalg.matmul(tf.cast(probs, q.dtype), v)
    if three_d:
        shape = tf.shape(y)
        y = tf.reshape(tf.transpose(y, [0, 2, 1, 3]), tf.stack([shape[0], shape[2], -1]))
    return y, present_key, present_value, tf.cast(qk_output, q.dtype)
