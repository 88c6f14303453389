"""Stop 85's lint changes.

- MLX271: `save_weights`/`load_weights` given a path whose written end is neither `.npz` nor
  `.safetensors` (fresh310 `tidewater_kiln_resnet`, dalongbao/papers b69bf14:
  `resnet.save_weights(os.path.join(out_dir, 'resnet_kiln'))` raised ValueError after
  training).
- MLX272: an axis a function forwards to one call (`mx.sum(x, axis=axis)`) dropped at another
  call that takes one (fresh292 `loomweft_tally_crossent`, keras 9e4f402:
  `log_softmax(output)` in a cross-entropy called with axis=1).

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

import pytest
from lint_snippets import HEADER, TRAINED, fired

PATHS = HEADER + "import os\nimport tempfile\nfrom pathlib import Path\n"

SAVE = TRAINED + """
out_dir = tempfile.mkdtemp()
model.save_weights({path})
"""


@pytest.mark.parametrize("path", [
    "os.path.join(out_dir, 'resnet_kiln')", "'resnet34'", "f'{out_dir}/ckpt_final'",
    "str(Path(out_dir) / 'weights')", "out_dir + '/w.npy'"])
def test_a_path_without_a_weights_suffix_is_found(path: str) -> None:
    assert fired(SAVE.format(path=path), "MLX271", PATHS) == [11]


@pytest.mark.parametrize("path", [
    "os.path.join(out_dir, 'resnet_kiln.npz')", "'w.safetensors'", "f'{out_dir}/ckpt.npz'",
    "out_dir", "f'{out_dir}/ckpt_{step}'", "args.save_path", "p.with_suffix('.npz')"])
def test_a_path_with_its_suffix_or_of_unknown_end_is_quiet(path: str) -> None:
    assert fired(SAVE.format(path=path), "MLX271", PATHS) == []


def test_a_name_bound_only_to_unsuffixed_paths_is_found() -> None:
    code = TRAINED + """
def save(model, out_dir):
    path = os.path.join(out_dir, "final")
    model.save_weights(path)
"""
    assert fired(code, "MLX271", PATHS) == [12]


def test_a_name_bound_once_with_a_suffix_is_quiet() -> None:
    code = TRAINED + """
def save(model, out_dir, safe):
    path = os.path.join(out_dir, "final")
    if safe:
        path = os.path.join(out_dir, "final.safetensors")
    model.save_weights(path)
"""
    assert fired(code, "MLX271", PATHS) == []


def test_load_weights_is_read_the_same_way() -> None:
    assert fired(TRAINED + "\nmodel.load_weights('checkpoint')\n", "MLX271", PATHS) == [10]


def test_the_programs_own_save_weights_takes_what_it_likes() -> None:
    code = TRAINED + """
class Saver:
    def save_weights(self, name):
        np.save(name + ".npy", 0)

Saver().save_weights("run1")
"""
    assert fired(code, "MLX271", PATHS) == []


CROSSENT = """
def log_softmax(x, axis=-1):
    return x - mx.logsumexp(x, axis=axis, keepdims=True)

def categorical_crossentropy(target, output, axis=-1):
    log_prob = log_softmax(output{given})
    return -mx.sum(target * log_prob, axis=axis)
"""


def test_an_axis_forwarded_to_one_call_and_dropped_at_another_is_found() -> None:
    assert fired(CROSSENT.format(given=""), "MLX272") == [6]
    assert fired(CROSSENT.format(given=", axis=axis"), "MLX272") == []
    assert fired(CROSSENT.format(given=", axis"), "MLX272") == []  # by position


def test_an_mlx_function_that_takes_an_axis_is_read_by_its_signature() -> None:
    code = """
def normalised(x, axis=-1):
    m = mx.max(x, axis=axis, keepdims=True)
    return mx.softmax(x - m)
"""
    assert fired(code, "MLX272") == [4]


def test_a_final_reduction_over_everything_and_a_function_not_forwarding_are_quiet() -> None:
    code = """
def nll(logp, target, axis=-1):
    picked = mx.take_along_axis(logp, target[..., None], axis=axis)
    return mx.mean(-picked)

def probs(x, axis=-1):
    return mx.softmax(x)
"""
    assert fired(code, "MLX272") == []
