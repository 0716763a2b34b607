"""Newer sequence-model ops: RotaryEmbedding, CausalConvWithState, LinearAttention."""

from __future__ import annotations

import math

import tensorflow as tf

from converter.targets.tf.node import Node
from converter.targets.tf.registry import tf_ops

__all__: list[str] = []


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
