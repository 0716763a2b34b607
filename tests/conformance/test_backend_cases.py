"""A representative sample of ONNX's backend node tests through both converters' backends (the full run: benchmarks)."""

from __future__ import annotations

import pytest

from converter.conformance.cases import backend_cases, backend_runner, case_failure

pytestmark = pytest.mark.slow

SAMPLES = {
    "tf": [
    "test_abs", "test_add_bcast", "test_sub_uint8", "test_mul_bcast", "test_div_int8",
    "test_pow_types_int64_float32", "test_mod_mixed_sign_int32", "test_max_example", "test_sum_example",
    "test_mean_example", "test_equal_bcast", "test_where_example", "test_clip_default_inbounds", "test_erf",
    "test_isinf_negative", "test_relu", "test_leakyrelu", "test_prelu_broadcast", "test_selu_example",
    "test_hardswish", "test_gelu_tanh_2", "test_softmax_axis_0", "test_logsoftmax_axis_1", "test_hardmax_example",
    "test_conv_with_strides_and_asymmetric_padding", "test_conv_with_autopad_same", "test_convtranspose_pads",
    "test_convtranspose_output_shape", "test_convtranspose_dilations", "test_maxpool_2d_ceil",
    "test_maxpool_2d_same_lower", "test_maxpool_3d_dilations", "test_averagepool_2d_pads_count_include_pad",
    "test_averagepool_2d_ceil", "test_globalaveragepool", "test_batchnorm_epsilon", "test_instancenorm_example",
    "test_layer_normalization_4d_axis1", "test_group_normalization_example", "test_lrn", "test_gemm_all_attributes",
    "test_matmul_4d", "test_einsum_batch_matmul", "test_reshape_negative_extended_dims",
    "test_reshape_allowzero_reordered", "test_flatten_negative_axis1", "test_transpose_all_permutations_3",
    "test_squeeze_negative_axes", "test_unsqueeze_unsorted_axes", "test_expand_dim_changed",
    "test_shape_start_negative_1", "test_concat_3d_axis_negative_2", "test_split_variable_parts_2d_opset18",
    "test_slice_neg_steps", "test_gather_negative_indices", "test_gather_elements_negative_indices",
    "test_gathernd_example_int32_batch_dim1", "test_scatter_elements_with_reduction_max", "test_scatternd_add",
    "test_tile", "test_constant_pad", "test_reflect_pad", "test_depthtospace_crd_mode_example",
    "test_reduce_mean_do_not_keepdims_random", "test_reduce_log_sum_exp_keepdims_random",
    "test_reduce_max_bool_inputs", "test_argmax_negative_axis_keepdims_example_select_last_index",
    "test_top_k_smallest", "test_cumsum_1d_reverse_exclusive", "test_cast_FLOAT_to_DOUBLE",
    "test_castlike_FLOAT_to_DOUBLE_expanded", "test_range_float_type_positive_delta",
    "test_constantofshape_int_zeros", "test_onehot_negative_indices", "test_nonzero_example", "test_tril",
    "test_resize_upsample_sizes_nearest", "test_resize_downsample_sizes_linear_pytorch_half_pixel",
    "test_resize_upsample_sizes_cubic", "test_if", "test_loop11", "test_lstm_with_peepholes", "test_gru_seq_length",
    "test_rnn_seq_length", "test_range_int32_type_negative_delta_expanded", "test_softmax_example_expanded",
    ],
    "torch": [
    "test_abs", "test_add_bcast", "test_sub_uint8", "test_add_uint16", "test_mul_bcast", "test_div_int8",
    "test_pow_types_int64_float32", "test_mod_mixed_sign_int32", "test_max_example", "test_sum_example",
    "test_mean_example", "test_equal_bcast", "test_where_example", "test_clip_default_inbounds", "test_erf",
    "test_isinf_negative", "test_bitshift_right_uint16", "test_relu", "test_leakyrelu", "test_prelu_broadcast",
    "test_selu_example", "test_hardswish", "test_gelu_tanh_2", "test_softmax_axis_0", "test_logsoftmax_axis_1",
    "test_hardmax_example", "test_conv_with_strides_and_asymmetric_padding", "test_conv_with_autopad_same",
    "test_convtranspose_pads", "test_convtranspose_output_shape", "test_convtranspose_dilations",
    "test_maxpool_2d_ceil", "test_maxpool_2d_same_lower", "test_maxpool_3d_dilations",
    "test_maxpool_with_argmax_2d_precomputed_pads", "test_averagepool_2d_pads_count_include_pad",
    "test_averagepool_2d_same_upper", "test_averagepool_2d_ceil", "test_globalaveragepool", "test_lppool_2d_pads",
    "test_batchnorm_epsilon", "test_batchnorm_example_training_mode", "test_instancenorm_example",
    "test_layer_normalization_4d_axis1", "test_group_normalization_example",
    "test_rms_normalization_3d_axis1_epsilon", "test_lrn", "test_gemm_all_attributes", "test_matmul_4d",
    "test_einsum_batch_matmul", "test_reshape_negative_extended_dims", "test_reshape_allowzero_reordered",
    "test_flatten_negative_axis1", "test_transpose_all_permutations_3", "test_squeeze_negative_axes",
    "test_unsqueeze_unsorted_axes", "test_expand_dim_changed", "test_shape_start_negative_1", "test_size_example",
    "test_concat_3d_axis_negative_2", "test_split_variable_parts_2d_opset18", "test_split_equal_parts_1d_opset18",
    "test_slice_neg_steps", "test_slice_start_out_of_bounds", "test_gather_negative_indices",
    "test_gather_elements_negative_indices", "test_gathernd_example_int32_batch_dim1",
    "test_scatter_elements_with_reduction_max", "test_scatternd_add", "test_tile", "test_constant_pad",
    "test_reflect_pad", "test_edge_pad", "test_depthtospace_example", "test_spacetodepth_example",
    "test_reduce_mean_do_not_keepdims_random", "test_reduce_sum_empty_axes_input_noop",
    "test_reduce_log_sum_exp_keepdims_random", "test_reduce_prod_keepdims_random",
    "test_reduce_l2_keep_dims_random", "test_argmax_negative_axis_keepdims_random_select_last_index",
    "test_top_k_smallest", "test_cumsum_1d_reverse_exclusive", "test_range_float_type_positive_delta",
    "test_constantofshape_int_zeros", "test_onehot_negative_indices", "test_nonzero_example", "test_tril",
    "test_eyelike_with_dtype", "test_compress_1", "test_resize_upsample_sizes_nearest",
    "test_resize_downsample_sizes_linear_pytorch_half_pixel", "test_resize_upsample_sizes_cubic",
    "test_resize_tf_crop_and_resize", "test_gridsample_bicubic", "test_if", "test_loop11", "test_scan9_sum",
    "test_lstm_with_peepholes", "test_lstm_batchwise", "test_gru_seq_length", "test_rnn_seq_length",
    "test_attention_4d_causal", "test_attention_3d_gqa", "test_rotary_embedding", "test_nllloss_NCd1_weight",
    "test_range_int32_type_negative_delta_expanded", "test_softmax_example_expanded",
    ],
}
FRAMEWORKS = {"tf": "tensorflow", "torch": "torch"}


@pytest.mark.parametrize(("backend", "name"), [(b, n) for b, names in SAMPLES.items() for n in names])
def test_backend_node_case(backend: str, name: str) -> None:
    pytest.importorskip(FRAMEWORKS[backend])
    assert case_failure(backend_runner(backend), backend_cases()[name]) == ""
