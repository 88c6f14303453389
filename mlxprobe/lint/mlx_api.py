"""The public names of `mlx.core` and its submodules, `mlx.nn`, `mlx.nn.losses` and
`mlx.optimizers` in mlx 0.32.4 (what `dir()` lists), as data.

Job: data only, for MLX037 (an `mx.<name>`, `nn.losses.<name>` or `optim.<name>` that mlx
does not have). Regenerate from `dir()`
of each module when mlx is upgraded; tests/test_lint_api.py checks it against the installed mlx.

Must not import: mlx, anything of mlxprobe.
"""

from __future__ import annotations

VERSION = "0.32.4"

MODULES: dict[str, frozenset[str]] = {
    "mlx.core": frozenset({
        "ArrayAt", "ArrayIterator", "ArrayLike", "Device", "DeviceType", "Dtype",
        "DtypeCategory", "FunctionExporter", "PrintOptions", "Stream", "StreamContext",
        "ThreadLocalStream", "_PrintOptionsContext", "_gc_func", "abs", "acos", "acosh",
        "add", "addmm", "all", "allclose", "any", "arange", "arccos", "arccosh", "arcsin",
        "arcsinh", "arctan", "arctan2", "arctanh", "argmax", "argmin", "argpartition",
        "argsort", "array", "array_equal", "as_strided", "asarray", "asin", "asinh", "astype",
        "async_eval", "atan", "atan2", "atanh", "atleast_1d", "atleast_2d", "atleast_3d",
        "bartlett", "bfloat16", "bitwise_and", "bitwise_invert", "bitwise_left_shift",
        "bitwise_or", "bitwise_right_shift", "bitwise_xor", "blackman", "block_masked_mm",
        "bool_", "broadcast_arrays", "broadcast_shapes", "broadcast_to", "can_cast", "ceil",
        "checkpoint", "clear_cache", "clear_streams", "clip", "compile", "complex64",
        "complexfloating", "concat", "concatenate", "conj", "conjugate", "contiguous",
        "conv1d", "conv2d", "conv3d", "conv_general", "conv_transpose1d", "conv_transpose2d",
        "conv_transpose3d", "convolve", "cos", "cosh", "count_nonzero", "cpu", "cuda",
        "cummax", "cummin", "cumprod", "cumsum", "cumulative_prod", "cumulative_sum",
        "custom_function", "default_device", "default_stream", "degrees", "depends",
        "dequantize", "device_count", "device_info", "diag", "diagonal", "diff",
        "disable_compile", "distributed", "divide", "divmod", "e", "einsum", "einsum_path",
        "empty", "empty_like", "enable_compile", "equal", "erf", "erfinv", "euler_gamma",
        "eval", "exp", "expand_dims", "expm1", "export_function", "export_to_dot", "exporter",
        "eye", "fast", "fft", "finfo", "flatten", "flip", "float16", "float32", "float64",
        "floating", "floor", "floor_divide", "from_dlpack", "from_fp8", "full", "full_like",
        "gather_mm", "gather_qmm", "gather_qqmm", "generic", "get_active_memory",
        "get_array_buffer_size", "get_cache_memory", "get_memory_limit", "get_peak_memory",
        "get_printoptions", "gpu", "grad", "greater", "greater_equal", "hadamard_transform",
        "hamming", "hanning", "identity", "iinfo", "imag", "import_function", "inexact",
        "inf", "inner", "int16", "int32", "int64", "int8", "integer", "is_available",
        "isclose", "isdtype", "isfinite", "isinf", "isnan", "isneginf", "isposinf",
        "issubdtype", "jvp", "kron", "left_shift", "less", "less_equal", "linalg", "linspace",
        "load", "log", "log10", "log1p", "log2", "logaddexp", "logcumsumexp", "logical_and",
        "logical_not", "logical_or", "logical_xor", "logsumexp", "matmul", "matrix_norm",
        "matrix_transpose", "max", "maximum", "mean", "median", "meshgrid", "metal", "min",
        "minimum", "minmax", "moveaxis", "multiply", "nan", "nan_to_num", "negative",
        "new_stream", "new_thread_local_stream", "new_thread_unsafe_stream", "newaxis",
        "not_equal", "number", "ones", "ones_like", "outer", "pad", "partition",
        "permute_dims", "pi", "positive", "pow", "power", "printoptions", "prod",
        "put_along_axis", "qqmm", "quantize", "quantized_matmul", "radians", "random", "real",
        "reciprocal", "remainder", "repeat", "reset_peak_memory", "reshape", "result_type",
        "right_shift", "roll", "round", "rsqrt", "save", "save_gguf", "save_safetensors",
        "savez", "savez_compressed", "searchsorted", "segmented_mm", "set_cache_limit",
        "set_default_device", "set_default_stream", "set_memory_limit", "set_printoptions",
        "set_wired_limit", "sigmoid", "sign", "signedinteger", "sin", "sinh", "slice",
        "slice_update", "softmax", "sort", "split", "sqrt", "square", "squeeze", "stack",
        "std", "stop_gradient", "stream", "subtract", "sum", "swapaxes", "synchronize",
        "take", "take_along_axis", "tan", "tanh", "tensordot", "tile", "to_fp8", "topk",
        "trace", "transpose", "tri", "tril", "triu", "trunc", "uint16", "uint32", "uint64",
        "uint8", "unflatten", "unique", "unsignedinteger", "unstack", "value_and_grad", "var",
        "vecdot", "view", "vjp", "vmap", "where", "zeros", "zeros_like"
    }),
    "mlx.core.linalg": frozenset({
        "cholesky", "cholesky_inv", "cross", "det", "eig", "eigh", "eigvals", "eigvalsh",
        "inv", "lu", "lu_factor", "norm", "pinv", "qr", "slogdet", "solve",
        "solve_triangular", "svd", "tri_inv"
    }),
    "mlx.core.random": frozenset({
        "_RandomState", "bernoulli", "categorical", "gumbel", "key", "laplace",
        "multivariate_normal", "normal", "permutation", "randint", "seed", "split",
        "truncated_normal", "uniform"
    }),
    "mlx.core.fft": frozenset({
        "fft", "fft2", "fftfreq", "fftn", "fftshift", "ifft", "ifft2", "ifftn", "ifftshift",
        "irfft", "irfft2", "irfftn", "istft", "rfft", "rfft2", "rfftfreq", "rfftn", "stft"
    }),
    "mlx.core.fast": frozenset({
        "cross_entropy", "cuda_kernel", "gated_delta_update", "layer_norm", "metal_kernel",
        "precompiled_cuda_kernel", "rms_norm", "rope", "scaled_dot_product_attention"
    }),
    "mlx.core.metal": frozenset({
        "clear_cache", "device_info", "get_active_memory", "get_cache_memory",
        "get_peak_memory", "is_available", "reset_peak_memory", "set_cache_limit",
        "set_memory_limit", "set_wired_limit", "start_capture", "stop_capture"
    }),
    "mlx.core.distributed": frozenset({
        "Group", "all_gather", "all_max", "all_min", "all_sum", "init", "is_available",
        "recv", "recv_like", "send", "sum_scatter"
    }),
    "mlx.core.cuda": frozenset({
        "is_available"
    }),
    "mlx.nn": frozenset({
        "ALiBi", "AllToShardedLinear", "AvgPool1d", "AvgPool2d", "AvgPool3d", "BatchNorm",
        "Bilinear", "CELU", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d",
        "ConvTranspose2d", "ConvTranspose3d", "Dropout", "Dropout2d", "Dropout3d", "ELU",
        "Embedding", "FullyShardedModule", "GELU", "GLU", "GRU", "GroupNorm", "HardShrink",
        "HardTanh", "Hardswish", "Identity", "InstanceNorm", "LSTM", "LayerNorm",
        "LeakyReLU", "Linear", "LogSigmoid", "LogSoftmax", "MaxPool1d", "MaxPool2d",
        "MaxPool3d", "Mish", "Module", "MultiHeadAttention", "PReLU", "QQLinear",
        "QuantizedAllToShardedLinear", "QuantizedEmbedding", "QuantizedLinear",
        "QuantizedShardedToAllLinear", "RMSNorm", "RNN", "ReLU", "ReLU2", "ReLU6", "RoPE",
        "SELU", "Sequential", "ShardedToAllLinear", "SiLU", "Sigmoid",
        "SinusoidalPositionalEncoding", "Softmax", "Softmin", "Softplus", "Softshrink",
        "Softsign", "Step", "Tanh", "Transformer", "TransformerDecoder",
        "TransformerDecoderLayer", "TransformerEncoder", "TransformerEncoderLayer",
        "Upsample", "activations", "average_gradients", "base", "celu", "containers",
        "convolution", "convolution_transpose", "distributed", "dropout", "elu",
        "embedding", "fully_shard", "gelu", "gelu_approx", "gelu_fast_approx", "glu",
        "hard_shrink", "hard_tanh", "hardswish", "init", "layers", "leaky_relu", "linear",
        "log_sigmoid", "log_softmax", "losses", "mish", "normalization", "pooling",
        "positional_encoding", "prelu", "quantize", "quantized", "recurrent", "relu",
        "relu2", "relu6", "selu", "sigmoid", "silu", "softmax", "softmin", "softplus",
        "softshrink", "softsign", "step", "tanh", "transformer", "upsample", "utils",
        "value_and_grad"
    }),
    "mlx.nn.losses": frozenset({
        "Literal", "Optional", "Reduction", "_reduce", "binary_cross_entropy",
        "cosine_similarity_loss", "cross_entropy", "gaussian_nll_loss", "get_args",
        "hinge_loss", "huber_loss", "kl_div_loss", "l1_loss", "log_cosh_loss",
        "margin_ranking_loss", "math", "mse_loss", "mx", "nll_loss", "smooth_l1_loss",
        "triplet_loss"
    }),
    "mlx.optimizers": frozenset({
        "AdaDelta", "Adafactor", "Adagrad", "Adam", "AdamW", "Adamax", "Callable",
        "Lion", "List", "Module", "MultiOptimizer", "Muon", "Optimizer", "Optional",
        "RMSprop", "SGD", "Tuple", "Union", "clip_grad_norm", "cosine_decay",
        "exponential_decay", "join_schedules", "linear_schedule", "math", "mx",
        "optimizers", "schedulers", "step_decay", "tree_flatten", "tree_map",
        "tree_merge", "tree_reduce", "tree_unflatten"
    }),
}

# Names a module's __getattr__ provides, which dir() does not list.
MODULES["mlx.core.random"] = MODULES["mlx.core.random"] | {"state"}

# What an `mlx.optimizers` optimizer (every subclass of `Optimizer`) has, besides dunders:
# the methods a program calls and the attributes it reads or sets (`learning_rate`, `state`
# and `step` are properties: `optimizer.step()` calls an array). For MLX147.
OPTIMIZER_METHODS = frozenset({"apply_gradients", "apply_single", "init", "init_single",
                               "update"})
OPTIMIZER_ATTRIBUTES = OPTIMIZER_METHODS | frozenset({
    "_approximate_exp_moving_avg", "_compute_learning_rate", "_compute_rms",
    "_maybe_schedule", "_split_dictionary", "_zeropower_via_newtonschulz5", "learning_rate",
    "state", "step"})
