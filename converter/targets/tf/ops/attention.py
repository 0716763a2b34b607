"""Attention: Attention (23+: masks, KV cache, GQA, softcap), RotaryEmbedding, CausalConvWithState, LinearAttention."""

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


@tf_ops.register("RotaryEmbedding", since=23)
def rotary_embedding(node: Node, x, cos, sin, position_ids=None):
    x = tf.convert_to_tensor(x)
    rank = len(x.shape)
    shape = tf.shape(x)
    if rank == 4:
        x = tf.transpose(x, [0, 2, 1, 3])
    else:
        x = tf.reshape(x, tf.stack([shape[0], shape[1], node.attr("num_heads"), -1]))
    dim = node.attr("rotary_embedding_dim", 0) or x.shape[-1]
    rotate, keep = x[..., :dim], x[..., dim:]
    if position_ids is not None:
        cos, sin = tf.gather(cos, position_ids), tf.gather(sin, position_ids)
    cos, sin = tf.cast(cos, x.dtype)[:, :, None, :], tf.cast(sin, x.dtype)[:, :, None, :]
    if node.attr("interleaved", 0):
        x1, x2 = rotate[..., 0::2], rotate[..., 1::2]
    else:
        x1, x2 = tf.split(rotate, 2, axis=-1)
    real, imag = cos * x1 - sin * x2, sin * x1 + cos * x2
    if node.attr("interleaved", 0):
        rotated = tf.reshape(tf.stack([real, imag], -1), tf.shape(rotate))
    else:
        rotated = tf.concat([real, imag], -1)
    out = tf.concat([rotated, keep], -1)
    return tf.transpose(out, [0, 2, 1, 3]) if rank == 4 else tf.reshape(out, shape)


@tf_ops.register("CausalConvWithState", since=27)
def causal_conv_with_state(node: Node, x, weight, bias=None, past=None):
    x = tf.convert_to_tensor(x)
    if x.dtype in (tf.float16, tf.bfloat16):
        wide = [None if t is None else tf.cast(t, tf.float32) for t in (x, weight, bias, past)]
        return [tf.cast(t, x.dtype) for t in causal_conv_with_state(node, *wide)]
    k = int(weight.shape[2])
    if past is None:
        past = tf.zeros(tf.stack([tf.shape(x)[0], tf.shape(x)[1], k - 1]), x.dtype)
    padded = tf.concat([tf.cast(past, x.dtype), x], 2)
    # Depthwise over channels: (B, C, L) -> (B, 1, L, C) for depthwise_conv2d.
    images = tf.transpose(padded, [0, 2, 1])[:, None]
    kernel = tf.transpose(tf.cast(weight, x.dtype), [1, 2, 0])[..., None]
    out = tf.nn.depthwise_conv2d(images, kernel, [1, 1, 1, 1], "VALID")[:, 0]
    if bias is not None:
        out = out + tf.cast(bias, x.dtype)
    out = tf.transpose(out, [0, 2, 1])
    activation = node.attr("activation", "none")
    if activation in ("silu", "swish"):
        out = out * tf.math.sigmoid(out)
    elif activation != "none":
        raise node.unsupported(f"activation '{activation}'")
    return out, padded[:, :, tf.shape(padded)[2] - (k - 1) :]


def _unpack(x, heads):
    shape = tf.shape(x)
    return tf.transpose(tf.reshape(x, tf.stack([shape[0], shape[1], heads, -1])), [0, 2, 1, 3])


@tf_ops.register("LinearAttention", since=27)
def linear_attention(node: Node, q, k, v, past=None, decay=None, beta=None):
    rule = node.attr("update_rule", "gated_delta")
    q_heads, kv_heads = node.attr("q_num_heads"), node.attr("kv_num_heads")
    out_dtype = tf.convert_to_tensor(q).dtype
    q4, k4, v4 = (tf.cast(_unpack(t, h), tf.float32) for t, h in ((q, q_heads), (k, kv_heads), (v, kv_heads)))
    d_k = q4.shape[-1]
    batch, steps = tf.shape(q4)[0], tf.shape(q4)[2]
    if decay is not None:
        decay = tf.cast(decay, tf.float32)
        decay = _unpack(decay, kv_heads)
    if beta is not None:
        beta = tf.transpose(tf.cast(beta, tf.float32), [0, 2, 1])[..., None]
    state_dtype = out_dtype if past is None else tf.convert_to_tensor(past).dtype
    if past is None:
        state = tf.zeros(tf.stack([batch, kv_heads, d_k, tf.shape(v4)[-1]]), tf.float32)
    else:
        state = tf.cast(past, tf.float32)
    scale = node.attr("scale", 0.0) or 1.0 / math.sqrt(d_k)
    group = q_heads // kv_heads

    def step(t, state, outputs):
        k_t, v_t = k4[:, :, t], v4[:, :, t]
        if rule in ("gated", "gated_delta"):
            state = state * tf.exp(decay[:, :, t])[..., None]
        if rule in ("delta", "gated_delta"):
            v_t = beta[:, :, t] * (v_t - tf.einsum("bhdm,bhd->bhm", state, k_t))
        state = state + k_t[..., :, None] * v_t[..., None, :]
        read = tf.repeat(state, group, axis=1) if group > 1 else state
        return t + 1, state, outputs.write(t, scale * tf.einsum("bhd,bhdm->bhm", q4[:, :, t], read))

    outputs = tf.TensorArray(tf.float32, size=steps)
    _, state, outputs = tf.while_loop(lambda t, *_: t < steps, step, (0, state, outputs))
    # (T, B, H_q, d_v) -> (B, T, H_q * d_v)
    stacked = tf.transpose(outputs.stack(), [1, 0, 2, 3])
    shape = tf.shape(stacked)
    y = tf.reshape(stacked, tf.stack([shape[0], shape[1], -1]))
    return tf.cast(y, out_dtype), tf.cast(state, state_dtype)
