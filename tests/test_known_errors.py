"""The known-error table: every entry matches the text MLX really prints, and a crash with that
text gets the entry's cause and fix.

Texts that a CPU can raise are raised for real by one child process on the installed mlx
(RAISED); the GPU-only ones (Metal, CUDA) are quoted from the issue each entry links, and a
native abort that no run raises every time as measured here (QUOTED).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from mlxprobe.judging import known_errors
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

# entry name -> a statement that makes mlx 0.32.4 raise it on a CPU (mx, nn, np in scope)
RAISED = {
    "eval_in_transform": "mx.compile(lambda x: mx.array(x.sum().item()))(mx.ones(3))",
    "random_state_assigned": "exec('mx.random.state[0] = mx.random.key(0)')",
    "conv_channels_last": "nn.Conv1d(3, 8, 3)(mx.ones((2, 3, 16)))",
    "compiled_function_copied": "__import__('copy').deepcopy(nn.silu)",
    "digit_keys_for_a_list": "nn.Sequential(M, M).update_modules({'layers': {'1': M}})",
    "lora_not_fused": "mx.savez(F, lora_a=mx.ones(2)); nn.Linear(2, 2).load_weights(F)",
    "weights_not_in_model": "mx.savez(F, x=mx.ones(2)); nn.Linear(2, 2).load_weights(F)",
    "weight_shape": "nn.Linear(2, 2).save_weights(F); nn.Linear(3, 3).load_weights(F)",
    "weights_missing": "mx.savez(F, weight=mx.ones((2, 2))); nn.Linear(2, 2).load_weights(F)",
    "module_not_initialised": "type('Net', (nn.Module,), {'__init__': lambda s: None})().freeze()",
    "missing_parameter": "nn.Linear(2, 2).update({'weightx': mx.ones((2, 2))})",
    "missing_adapter_parameter": "nn.Linear(2, 2).update({'lora_a': mx.ones((2, 2))})",
    "flat_keys_to_update": "nn.Linear(2, 2).update({'layers.0.weight': mx.ones((2, 2))})",
    "row_indexed_by_position": "sorted([0], key=lambda i: len({'prompt': 'a'}[i]))",
    "dict_iterated_as_leaves": "sum(g * g for g in {'w': mx.ones(2)})",
    "module_through_transform": "mx.compile(lambda m, x: nn.value_and_grad(m, lambda mm, xx: "
                                "mm(xx).sum())(m, x))(nn.Linear(2, 2), mx.ones((1, 2)))",
    "gather_float_indices": "nn.Embedding(10, 4)(mx.ones((2, 3)))",
    "item_of_array": "mx.ones((3,)).item()",
    "partition_kth": "mx.eval(mx.argpartition(mx.ones((4, 2)), kth=2, axis=-1))",
    "ragged_rows": "np.array([[1, 2], [3]])",
    "ids_as_dict": "np.zeros((1, 2), np.int32).__setitem__((0, 0), {'input_ids': [1]})",
    "none_called": "(lambda kernel=None: kernel())()",
    "list_indexed_as_array": "[1, 2, 3][None]",
    "module_torch_method": "nn.Linear(2, 2).load_state_dict({})",
    "empty_path": "os.makedirs(os.path.dirname('model.npz'))",
    "sliced_dict": "nn.Linear(2, 2)[-1:]",
    "pil_float_image": "import numpy as np; from PIL import Image; "
                       "Image.fromarray(np.zeros((2, 2, 3), np.float32))",
    "grad_of_non_scalar": "mx.grad(lambda x: x * 2)(mx.ones((1,)))",
    "grad_returns_non_array": "mx.value_and_grad(lambda x: 'a')(mx.ones(3))",
    "metal_info_missing": "mx.metal.device_info()['max_recommended_working_set_size']",
    "non_array_argument": "mx.value_and_grad(lambda x: x * 2)(3.0)",
    "reshape_size": "mx.ones((2, 3)).reshape(4, 2)",
    "matmul_inner_dim": "nn.Linear(4, 2)(mx.ones((3, 5)))",
    "integer_matmul": "mx.ones((2, 2), dtype=mx.int32) @ mx.ones((2, 2), dtype=mx.int32)",
    "broadcast_shapes": "mx.ones((2, 3)) + mx.ones((4, 5))",
    "shortcut_channels": "mx.ones((2, 4, 4, 8)) + nn.Conv2d(8, 6, 3, padding=1)"
                         "(mx.ones((2, 4, 4, 8)))",
    "features_given_to_encoding": "mx.ones((2, 5, 8)) + "
                                  "nn.SinusoidalPositionalEncoding(8)(mx.ones((2, 5, 8)))",
    "number_as_string": "optim.cosine_decay('3e-3', 100, '1e-5')(mx.array(0))",
    "transform_of_an_array": "mx.grad(mx.ones(3), {})",
    "has_aux": "nn.value_and_grad(M, lambda m, x: m(x).sum(), has_aux=True)",
    "array_at_set": "mx.ones(3).at[0].set(1.0)",
    "view_as_reshape": "mx.ones(4).view(-1, 1)",
    "transpose_two_axes": "mx.transpose(mx.ones((2, 3, 4)), -1, 0)",
    "tree_for_array": "mx.flatten({'w': mx.ones(2)})",
    "none_operand": "mx.ones(2) + None",  # fresh194 sonnet_moe_holdout
    # fresh197 herbarium_caption_sft
    "module_method_given_model": "nn.Linear(2, 2).trainable_parameters(nn.Linear(2, 2))",
    "concatenate_shapes": "mx.concatenate([mx.ones((2, 3)), mx.ones((2, 4))])",
    "ragged_batch": "mx.array([[1, 2, 3], [4, 5]])",
    "stack_shapes": "mx.stack([mx.ones((3,)), mx.ones((2, 3))])",
    "squeeze_index_past_end": "mx.ones((2, 3))[5, :2]",
    "path_object_to_weights": "nn.Linear(2, 2).save_weights(__import__('pathlib').Path(F))",
    "array_to_json": "__import__('json').dumps({'lr': mx.array(0.1)})",
    "negative_pad": "mx.pad(mx.ones((3,)), [(0, -2)])",
    "index_type": "mx.ones((4, 5))[np.arange(4), mx.array([0, 1, 2, 3])]",
    "boolean_index": "mx.ones(4)[mx.array([True, False, True, False])]",
    "scalar_unpacked": "tuple(mx.array(1.0))",
    "operand_type": "mx.array(1.0) + (x for x in [1.0])",
    "closure_shares_captured_state": "R = nn.Linear(2, 2); R.update(M.parameters()); "
                                     "mx.compile(lambda x: (M(x) - R(x)).sum(), "
                                     "inputs=[M.state], outputs=[M.state])(X)",
    "group_as_number": "mx.array(1.0) / mx.distributed.init()",
    "number_read_as_array": "total = 0; total.item()",
    "tree_utility_in_core": "mx.tree_map(lambda a: a, {'w': mx.ones(2)})",
    "quantize_group_size": "mx.quantize(mx.ones((32, 40)), group_size=64)",
    "bad_cast": "mx.savez(F, x=[1, 2])",
    "quantized_float_weights": "Q = nn.QuantizedLinear(64, 64); Q.weight = "
                               "mx.ones((64, 64), dtype=mx.float16); Q(mx.ones((2, 64)))",
    "quantized_weights_grad": "mx.value_and_grad(lambda m, x: m(x).sum())"
                              "(nn.QuantizedLinear(64, 64), mx.ones((2, 64)))",
    "vjp_of_indices": "mx.grad(lambda x: mx.take_along_axis(x, mx.argsort(x), -1).sum())"
                      "(mx.ones(4))",
    "array_attribute": "mx.ones(2).backward()",
    "loss_shapes": "nn.losses.cross_entropy(mx.zeros((4, 3)), mx.zeros((4, 2), dtype=mx.int32))",
    "rows_without_fields": "import types; from mlx_lm.tuner.datasets import create_dataset; "
                           "create_dataset([{'question': 'q', 'better': 'b'}], None, "
                           "types.SimpleNamespace())",
    "loss_one_position": "nn.losses.cross_entropy(mx.zeros((4, 1, 5)), "
                         "mx.zeros((4, 7), mx.int32))",
    "loss_leading_axis": "nn.losses.cross_entropy(mx.zeros((40, 5)), mx.zeros((24,), mx.int32))",
    "bfloat16_to_numpy": "np.array(mx.ones(2, dtype=mx.bfloat16))",
    "compile_non_array_argument": "mx.compile(lambda x: x)(object())",
    "save_takes_one_array": "mx.save(F, **{'w': mx.ones(2)})",
    # fresh276 orchard_graft_scion_reptile: a list of a nested tree's layer dicts
    "list_not_arrays": "mx.stack([{'w': mx.ones(2)}, {'w': mx.ones(2)}])",
    "incompatible_arguments": "mx.ones(2).astype('float32')",
    # fresh284 quarry_tithe_lmhead: an explicit head into a model that ties it
    "untied_head_in_checkpoint": "M.load_weights([('weight', mx.zeros((2, 2))), "
                                 "('bias', mx.zeros(2)), ('lm_head.weight', mx.zeros((2, 2)))])",
    "array_for_number": "mx.arange(mx.array([3, 5]).max())",
    "load_failed_to_open": "mx.load('/nonexistent/weights.safetensors')",
    "dataset_split_empty": "import types; from mlx_lm.tuner.datasets import load_dataset; "
                           "load_dataset(types.SimpleNamespace(data=os.path.dirname(F), "
                           "train=True, test=False, hf_dataset=False), None)",
    "grad_keyword_call": "mx.value_and_grad(lambda x: x.sum())(x=mx.ones(3))",
    "grad_nothing_trainable": "M.freeze(); nn.value_and_grad(M, lambda x: M(x).sum())(X)",
    "learning_rate_not_array": "optim.SGD(learning_rate=lambda s: 0.1).update(M, "
                               "tree_map(mx.zeros_like, M.parameters()))",
    "stream_of_another_thread": "import concurrent.futures as C; A = mx.ones(2) + 1; "
                                "C.ThreadPoolExecutor(1).submit(mx.eval, A).result()",
    "shadowed_function": "loss = 0; loss(mx.ones(2))",
    "compile_uncaptured_state": "mx.compile(lambda x: O.update(M, nn.value_and_grad(M, "
                                "lambda x: M(x).sum())(x)[1]) or x)(X); mx.eval(M.parameters())",
    # fresh374 quarry_lantern_dreambooth: a crop box passed as four values (PIL's Image.crop)
    "values_spread": "exec('def crop(box=None): pass\\ncrop(0, 0, 2, 2)')",
}
# entry name -> the text quoted from its issue (a GPU raises it), or measured here from a
# native abort that no run raises every time (heap_corruption: fresh8's one-based labels,
# 6 of 9 runs)
QUOTED = {
    # Hugging Face datasets' own text (not installed here), quoted from the mlx-vlm report
    "rows_past_dataset": "IndexError: Index 283 out of range for dataset of size 71",
    "heap_corruption": "munmap_chunk(): invalid pointer\nFatal Python error: Aborted",
    "image_tokens_features": "ValueError: Image features and image tokens do not match: "
                             "tokens: 4046, features 4794",
    "vjp_not_implemented": "ValueError: [Primitive::vjp] Not implemented for ArgReduce.",
    "jvp_not_implemented": "ValueError: [Primitive::jvp] Not implemented for AddMM.",
    "int64_scatter_gpu": "std::invalid_argument: [Scatter::eval_gpu] Does not support int64",
    "gpu_not_implemented": "std::runtime_error: [Inverse::eval_gpu] Metal inversion NYI.",
    "float64_on_gpu": "MLX error: float64 is not supported on the GPU at "
                      "mlx-swift/Source/Cmlx/mlx-c/mlx/c/ops.cpp:643",
    "cuda_out_of_memory": "RuntimeError: cudaMallocManaged failed: an illegal memory access "
                          "was encountered.",
    "metal_gpu_timeout": "[METAL] Command buffer execution failed: Caused GPU Timeout Error "
                         "(00000002:kIOGPUCommandBufferCallbackErrorTimeout).",
    "metal_out_of_memory": "[METAL] Command buffer execution failed: Insufficient Memory "
                           "(00000008:kIOGPUCommandBufferCallbackErrorOutOfMemory)",
    "metal_resource_limit": "RuntimeError: [metal::malloc] Resource limit (499000) exceeded.",
    "metal_buffer_too_large": "[metal::malloc] Attempting to allocate 48736917632 bytes which "
                              "is greater than the maximum allowed buffer size of 30150672384",
    "metal_wired_limit": "[metal::set_wired_limit] Setting a wired limit larger than the "
                         "maximum working set size is not allowed.",
    "metal_internal_error": "[METAL] Command buffer execution failed: Internal Error "
                            "(0000000e:Internal Error)",
    "metal_command_buffer": "[METAL] Command buffer execution failed: Impacting Interactivity "
                            "(0000000e:kIOGPUCommandBufferCallbackErrorImpactingInteractivity)",
}

CHILD = """
import json, os, sys, tempfile
import mlx.core as mx, mlx.nn as nn, mlx.optimizers as optim, numpy as np
from mlx.utils import tree_map
F = os.path.join(tempfile.mkdtemp(), "w.npz")
out = {}
for name, statement in json.loads(sys.argv[1]).items():
    M, O, X = nn.Linear(2, 2), optim.SGD(0.1), mx.ones((1, 2))
    try:
        result = eval(statement) if ";" not in statement else exec(statement)
        if isinstance(result, mx.array):
            mx.eval(result)
        out[name] = "no error"
    except Exception as error:
        out[name] = f"{type(error).__name__}: {error}"
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def raised() -> dict[str, str]:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(CHILD), json.dumps(RAISED)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_entry_has_a_text_here() -> None:
    names = [entry.name for entry in known_errors.TABLE]
    assert len(names) >= 25 and len(set(names)) == len(names)
    assert set(RAISED) | set(QUOTED) == set(names) and not set(RAISED) & set(QUOTED)


@pytest.mark.parametrize("name", sorted(RAISED))
def test_a_text_mlx_raises_here_finds_its_entry(raised: dict[str, str], name: str) -> None:
    found = known_errors.find(raised[name])
    assert found is not None and found.name == name, raised[name]


@pytest.mark.parametrize("name", sorted(QUOTED))
def test_a_quoted_gpu_text_finds_its_entry(name: str) -> None:
    found = known_errors.find(QUOTED[name])
    assert found is not None and found.name == name


@pytest.mark.parametrize("entry", known_errors.TABLE, ids=lambda e: e.name)
def test_every_entry_names_cause_fix_and_issue(entry: known_errors.KnownError) -> None:
    assert entry.source.startswith("https://github.com/") and "/" in entry.source[19:]
    assert len(entry.cause) > 30 and "`" in entry.fix


def test_a_crash_with_a_known_text_says_its_cause_fix_and_issue(raised: dict) -> None:
    kind, _, message = raised["conv_channels_last"].partition(": ")
    error = {"kind": "error", "t": 1.0, "type": kind, "message": message}
    verdict = classify(RawResult(records=[{"kind": "start", "t": 0.0}, error], exit_code=1))
    assert verdict.label == "crash:ValueError"
    assert "transpose(0, 2, 1)" in verdict.hint and "channels last" in verdict.hint
    assert verdict.evidence["known_error"] == "conv_channels_last"
    assert verdict.evidence["known_error_source"].endswith("mlx-embeddings/issues/21")


def test_a_hint_names_the_op_the_message_names() -> None:
    entry = known_errors.find(QUOTED["vjp_not_implemented"])
    assert entry is not None and "no gradient: ArgReduce" in entry.hint_for(
        QUOTED["vjp_not_implemented"])


def test_nothing_trainable_names_a_lora_walk_that_skips_a_list_of_blocks() -> None:
    """fresh160 `songbird_dit_lora` (mlx-music 0409f95): the walk over `children()` never
    recursed into the list holding the DiT blocks, so no LoRA layer was made."""
    text = "ValueError: [grad] Must specify at least one argument."
    entry = known_errors.find(text)
    hint = entry.hint_for(text) if entry is not None else ""
    assert "recurse" in hint and "list" in hint and "named_modules" in hint


def test_missing_parameters_name_an_in_memory_copy_taken_before_a_layer_was_added() -> None:
    """fresh171 `gripper_ema_headswap` (LeRobot-mlx a24035d): an EMA shadow built before a
    new head was attached, loaded back with `load_weights`, lacked the head's parameters."""
    text = "ValueError: Missing 2 parameters: \ngripper.bias,\ngripper.weight."
    entry = known_errors.find(text)
    hint = entry.hint_for(text) if entry is not None else ""
    assert "`gripper.bias`" in hint and "EMA shadow" in hint and "missing parameters" in hint


def test_an_unknown_text_keeps_the_plain_hint() -> None:
    assert known_errors.find("ValueError: something nobody has seen") is None


def test_a_native_abort_with_a_corrupted_heap_names_out_of_bounds_labels() -> None:
    raw = RawResult(records=[], exit_code=None, watched=True)
    raw.signal = 6
    raw.stderr_tail = ("munmap_chunk(): invalid pointer\nFatal Python error: Aborted\n\n"
                       'Current thread 0x1 (most recent call first):\n  File "/x/train.py", '
                       "line 67 in <module>\n")
    verdict = classify(raw)
    assert verdict.label == "crash:SIGABRT" and "y = y - 1" in verdict.hint


def test_a_segfault_names_its_line_and_the_deep_graph_cause() -> None:
    raw = RawResult(records=[], exit_code=None, watched=True)
    raw.signal = 11
    raw.stderr_tail = ('Fatal Python error: Segmentation fault\n\nCurrent thread 0x1 (most '
                       'recent call first):\n  File "/x/heat.py", line 58 in <module>\n')
    verdict = classify(raw)
    assert "heat.py:58" in verdict.hint and "unroll" in verdict.hint


@pytest.mark.parametrize("text", [
    "TypeError: '<=' not supported between instances of 'float' and 'str'",
    "TypeError: unsupported operand type(s) for *: 'float' and 'str'",
    "TypeError: can't multiply sequence by non-int of type 'float'",
    'TypeError: can only concatenate str (not "float") to str'])
def test_every_spelling_of_a_number_given_as_a_string(text: str) -> None:
    """Python's own words for a str meeting a number, as a config's `1e-5` gives them."""
    assert known_errors.find(text).name == "number_as_string"


def test_an_extra_trailing_axis_either_way_round_is_features_given_to_an_encoding() -> None:
    for shapes in ("(16,24,32) and (16,24,32,32)", "(4,7,16) and (4,7)"):
        text = f"ValueError: [broadcast_shapes] Shapes {shapes} cannot be broadcast."
        assert known_errors.find(text).name == "features_given_to_encoding", shapes
    other = "ValueError: [broadcast_shapes] Shapes (16,24) and (16,24,32,32) cannot be broadcast."
    assert known_errors.find(other).name == "broadcast_shapes"


def test_only_feature_maps_that_differ_in_their_channels_alone_name_a_shortcut() -> None:
    """fresh288 `loupe_glaze_upscale`: (8,4,4,64) + (8,4,4,40), a residual block that
    changes its width; 3-D rows that differ in their last axis (a vocabulary, a mask one
    token long) and maps that differ elsewhere keep the plain entry."""
    text = "ValueError: [broadcast_shapes] Shapes {} and {} cannot be broadcast."
    assert known_errors.find(text.format("(8,4,4,64)", "(8,4,4,40)")).name == \
        "shortcut_channels"
    for a, b in (("(8,10,36)", "(8,10,40)"), ("(8,4,4,64)", "(8,8,8,40)"),
                 ("(8,4,4,64)", "(8,4,4,64)")):
        assert known_errors.find(text.format(a, b)).name == "broadcast_shapes"


def test_a_transformation_given_an_array_is_found_from_the_first_line_alone():
    """A crash record keeps the first lines of a long message: `Invoked with types` may be cut."""
    text = ("TypeError: grad(): incompatible function arguments. The following argument types "
            "are supported:\n    1. grad(fun: Callable[P, R], argnums: int | None = None)")
    assert known_errors.find(text).name == "transform_of_an_array"
    aux = ("TypeError: value_and_grad(): incompatible function arguments. ...\n\n"
           "Invoked with types: function, kwargs = { has_aux: bool }")
    assert known_errors.find(aux).name == "has_aux"


RAISED_IN_TRACE = """
from functools import partial
import mlx.core as mx, mlx.nn as nn, mlx.optimizers as optim
M, O = nn.Linear(2, 2), optim.SGD(0.1)
state = [M.state, O.state]
@partial(mx.compile, inputs=state, outputs=state)
def step(x):
    if x.shape[0] < 2:
        raise ValueError("too small")
    loss, g = nn.value_and_grad(M, lambda x: M(x).sum())(x)
    O.update(M, g)
    return loss
try:
    step(mx.ones((1, 2)))
except ValueError:
    pass
step(mx.ones((4, 2)))
mx.eval(M.parameters())
"""


def test_a_compiled_step_that_raised_while_traced_is_named_with_its_fix() -> None:
    # fresh54 compiled_step_guard_raise (mlx-vlm issue 1654): the state is declared, but a
    # check inside the compiled function raised during its trace and the loop went on
    done = subprocess.run([sys.executable, "-c", RAISED_IN_TRACE], capture_output=True,
                          text=True, timeout=120)
    text = done.stderr[done.stderr.index("RuntimeError: [eval]"):]
    entry = known_errors.find(text)
    assert entry is not None and entry.name == "compile_uncaptured_state"
    assert "raised an exception while it was being traced" in entry.hint
    assert "outside the compiled function" in entry.hint


def test_a_method_given_the_model_keeps_its_own_entry() -> None:
    """`values_spread` comes last: `Module.parameters() takes 1 positional argument but 2
    were given` is still the more particular `module_method_given_model`."""
    text = "TypeError: Module.parameters() takes 1 positional argument but 2 were given"
    found = known_errors.find(text)
    assert found is not None and found.name == "module_method_given_model"


def test_spread_values_name_the_function_and_the_tuple() -> None:
    text = ("TypeError: Image.crop() takes from 1 to 2 positional arguments but 5 were "
            "given")
    found = known_errors.find(text)
    assert found is not None and found.name == "values_spread"
    assert "`Image.crop()` was handed" in found.hint_for(text) and "one tuple" in found.hint
