"""Stop 58's lint change, on small programs with the spellings beside them that must stay
silent: MLX179, state carried by hand in a public array attribute of a module the optimizer
also updates (failure corpus fresh123 `sluice_trace_online`, jrz97619761/test-model-thing#14:
the recurrent memory got an Adam step on top of the value the loop had just written).

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

CELL = """
class Cell(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(3, 8)
        self.rec = nn.Linear(8, 8)
        self.{name} = mx.zeros((8,))
        {freeze}

    def __call__(self, x):
        h = mx.tanh(self.inp(x) + self.rec({read}))
        {carry}
        return h.sum(), h

def loss_fn(model, x):
    y, h = model(x)
    return y, h

model = Cell()
opt = optim.Adam(learning_rate=1e-3)
step = nn.value_and_grad(model, loss_fn)
for t in range(100):
    (loss, h), grads = step(model, X[t])
    {loop}
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
"""


def program(name: str = "states", freeze: str = "", read: str = "self.states",
            carry: str = "", loop: str = "model.states = mx.stop_gradient(h)") -> str:
    return CELL.format(name=name, freeze=freeze, read=read, carry=carry, loop=loop)


def test_state_written_by_hand_each_step_while_the_optimizer_updates_it_is_found() -> None:
    assert fired(program(), "MLX179") == [24]


def test_state_written_back_inside_the_forward_is_found() -> None:
    assert fired(program(carry="self.states = mx.stop_gradient(h)", loop="pass"),
                 "MLX179") == [12]


@pytest.mark.parametrize("changes", [
    {"freeze": 'self.freeze(keys=["states"], recurse=False)'},  # the fix
    {"name": "_states", "read": "self._states",
     "loop": "model._states = mx.stop_gradient(h)"},  # private: no parameter
    {"read": "mx.stop_gradient(self.states)"},  # no gradient reaches it
    {"loop": "model.states = model.states - 0.1 * grads['states']"},  # a hand update of it
    {"loop": "if t == 50:\n        model.states = mx.zeros((8,))"},  # once, not each step
    {"carry": "self.states = 0.9 * self.states + 0.1 * h", "loop": "pass"},  # a running mean
    {"loop": "pass"},  # never written by hand: a learned initial state
])
def test_a_weight_a_frozen_or_private_state_or_a_running_mean_is_left_alone(
        changes: dict[str, str]) -> None:
    assert fired(program(**changes), "MLX179") == []


def test_a_module_no_optimizer_updates_is_left_alone() -> None:
    code = program().replace("opt.update(model, grads)", "pass")
    assert fired(code, "MLX179") == []


CODEC = """
def compute_loss(model, tokens, masks):
    audio_tokens = tokens[:, :, :K]
    logits = model(tokens, masks)
    {shift}
    total = 0.0
    for k in range(K):
        ce = nn.losses.cross_entropy(logits[k], targets[..., k], reduction="none")
        total = total + (ce * masks[..., k]).mean()
    return total
"""


def test_targets_selected_from_the_models_input_but_never_shifted_are_found() -> None:
    # fresh125 `chime_codec_nextframe` (csm-mlx eecc69c): every frame's codes predicted
    # from an input that holds them
    assert fired(CODEC.format(shift="targets = audio_tokens"), "MLX011") == [8]


@pytest.mark.parametrize("shift", [
    "targets = audio_tokens[:, 1:, :]\n    logits = [lg[:, :-1] for lg in logits]",  # the fix
    "targets = labels[:, :, :K]",  # labels of their own
    "targets = mx.roll(audio_tokens, -1, axis=1)",  # shifted by a call
])
def test_shifted_targets_or_targets_of_their_own_are_left_alone(shift: str) -> None:
    assert fired(CODEC.format(shift=shift), "MLX011") == []


CLI = """
import argparse

def setup_arg_parser():
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=600)
    parser.add_argument("--output-dir", default="out")
    parser.add_argument("-r", dest="lora_rank", type=int, default=8)
    {more}
    return parser

def save(name, args):
    return args.adapter_path  # another object: a parameter of its own

def main():
    args = setup_arg_parser().parse_args()
    {extra}
    for i in range(args.iterations):
        mx.eval(mx.zeros((args.lora_rank,)))
    print(f"saved to {{args.{read}}}")
"""


def cli(read: str = "adapter_file", more: str = "", extra: str = "") -> str:
    return CLI.format(read=read, more=more, extra=extra)


def test_an_attribute_of_the_parsed_options_that_no_option_defines_is_found() -> None:
    # fresh127 `dunefield_lora_flow` (mlx-examples PR 1143): args.adapter_file, no such option
    assert fired(cli(), "MLX180") == [20]


@pytest.mark.parametrize("changes", [
    {"read": "output_dir"},  # defined: --output-dir
    {"more": 'parser.add_argument("--adapter-file")'},
    {"more": "parser.set_defaults(adapter_file='a.npz')"},
    {"extra": "args.adapter_file = 'a.npz'"},  # set on the namespace
    {"extra": "vars(args).update(json.load(open('c.json')))"},
    {"more": "add_common_options(parser)"},  # a helper from elsewhere may add it
    {"more": 'parser.add_argument(f"--{NAME}")'},  # an option's name not a literal
])
def test_options_defined_or_set_some_other_way_are_left_alone(changes: dict[str, str]) -> None:
    assert fired(cli(**changes), "MLX180") == []


MASK = """
import math
def create_additive_causal_mask(N):
    rinds = mx.arange(N)
    mask = rinds[:, None] < rinds[None]
    return {product}
"""


@pytest.mark.parametrize("product", ["mask * -math.inf", "-mx.inf * mask",
                                     "(rinds[:, None] < rinds[None]) * float('-inf')",
                                     "mx.logical_not(mask) * -np.inf"])
def test_a_boolean_mask_times_an_infinity_is_found(product: str) -> None:
    # fresh129 `tramline_stride_lm` (SiLLM 88d2bc3): False * -inf is NaN, not 0
    assert fired(MASK.format(product=product), "MLX181") == [6]


@pytest.mark.parametrize("product", ["mask * -1e9", "mx.where(mask, -mx.inf, 0.0)",
                                     "rinds * -math.inf", "mask.astype(mx.float32) * 2.0"])
def test_a_finite_fill_or_a_where_is_left_alone(product: str) -> None:
    assert fired(MASK.format(product=product), "MLX181") == []


@pytest.mark.parametrize("line, found", [
    ("flattened_grads, _ = tree_flatten(accumulated_grads)", [3]),  # JAX's (leaves, treedef)
    ("flattened_grads = tree_flatten(accumulated_grads)", []),  # MLX's list of pairs
    ("(k0, v0), (k1, v1) = tree_flatten(pair)[:2]", []),  # a slice of the pairs
])
def test_a_jax_style_unpack_of_tree_flatten_is_found(line: str, found: list[int]) -> None:
    # fresh131 `vhf_callsign_intent_accumclip` (mlx-raclate d9af45e): too many values to unpack
    code = f"\ndef clip(accumulated_grads, pair):\n    {line}\n    return 0\n"
    assert fired(code, "MLX112") == found


@pytest.mark.parametrize("call, found", [
    ("mx.dequantize(w, layer.group_size, layer.bits)", [3]),  # group_size lands on scales
    ("mx.dequantize(w, layer.scales, layer.biases, layer.group_size, layer.bits)", []),
    ("mx.dequantize(w, layer.scales, layer.biases, group_size=64, bits=4)", []),
])
def test_quantize_arguments_named_for_another_slot_are_found(call: str, found: list[int]) -> None:
    # fresh133 `qlora_fuse_dequant_args` (mzbac/mlx-lora 36a4ac7)
    code = f"\ndef fuse(layer, w):\n    w = {call}\n    return w\n"
    assert fired(code, "MLX182") == found


def test_a_dequantize_without_the_mode_the_model_was_quantized_with_is_found() -> None:
    # fresh133 `brinewell_mxfp4_lora_fuse` (mlx-lm PR 647): affine assumed for mxfp4 weights
    code = """
nn.quantize(model, group_size=32, bits=4, mode="mxfp4")
def fuse(layer):
    return mx.dequantize(layer.weight, layer.scales, layer.get("biases"), {rest})
"""
    assert fired(code.format(rest="layer.group_size, layer.bits"), "MLX182") == [4]
    assert fired(code.format(rest="group_size=32, bits=4, mode=layer.mode"), "MLX182") == []
