"""From fresh56's held-out half: MLX164 (a loss reduced to one number, then masked and reduced
again) and MLX165 (a bool given by position to a loss, where that slot is no flag), with the
spellings right beside them; the loss signature table against the installed mlx."""

from __future__ import annotations

import inspect

import pytest
from lint_snippets import fired

from mlxprobe.lint.loss_signatures import FLAGS, PARAMETERS


def test_the_loss_signature_table_is_the_installed_mlx():
    import mlx.nn.losses as losses

    for name, params in PARAMETERS.items():
        signature = inspect.signature(getattr(losses, name)).parameters
        assert tuple(signature) == params, name
        flags = {(name, p) for p, v in signature.items() if isinstance(v.default, bool)}
        assert flags == {f for f in FLAGS if f[0] == name}, name


@pytest.mark.parametrize("call, lines", [
    ("nn.losses.binary_cross_entropy(p, y, False)", [2]),
    ("nn.losses.cross_entropy(p, y, None, True)", [2]),  # axis=True is axis 1
    ("nn.losses.binary_cross_entropy(p, y, None, False)", []),  # the flag's own slot
    ("nn.losses.binary_cross_entropy(p, y, with_logits=False)", []),
    ("nn.losses.gaussian_nll_loss(p, y, v, True)", []),  # `full`
])
def test_mlx165_a_flag_in_another_parameters_place(call: str, lines: list[int]):
    code = f"""
    def val(p, y, v):
        return {call}
    """
    assert fired(code, "MLX165") == [line + 1 for line in lines]


@pytest.mark.parametrize("loss, combine, lines", [
    ("nn.losses.gaussian_nll_loss(mu, y, var)", "(nll * mask).sum() / mask.sum()", [4]),
    ("nn.losses.mse_loss(mu, y)", "mx.sum(nll * mask) / mask.sum()", [4]),
    ("nn.losses.mse_loss(mu, y, reduction='sum')", "(mask * nll).mean()", [4]),
    ("nn.losses.gaussian_nll_loss(mu, y, var, reduction='none')",
     "(nll * mask).sum() / mask.sum()", []),
    ("nn.losses.cross_entropy(mu, y)", "(nll * mask).sum() / mask.sum()", []),  # 'none'
    ("nn.losses.mse_loss(mu, y)", "nll * weight", []),  # a weighted term, not re-reduced
    ("nn.losses.mse_loss(mu, y)", "(nll * 0.5).sum()", []),
])
def test_mlx164_a_reduced_loss_masked_and_reduced_again(loss: str, combine: str,
                                                        lines: list[int]):
    code = f"""
    def masked(mu, y, var, mask, weight):
        nll = {loss}
        return {combine}
    """
    assert fired(code, "MLX164") == lines


@pytest.mark.parametrize("body, lines", [
    ("y = layer(x, mask)", [6]),
    ("x = layer(x, mask)", []),
    ("y = layer(x, mask)\n                outs.append(y)", []),  # parallel branches, each kept
    ("y = layer(x, mask)\n                x = x + y", []),  # a residual: x rebound
])
def test_mlx166_a_layer_loop_that_keeps_only_the_last_output(body: str, lines: list[int]):
    # fresh57 llama_block_stack (mlx-playground f1e738e)
    code = f"""
    class Net(nn.Module):
        def __call__(self, x, mask=None):
            outs = []
            for layer in self.layers:
                {body}
            return x
    """
    assert fired(code, "MLX166") == lines


@pytest.mark.parametrize("line, lines", [
    ("d = mx.sqrt(mx.power(a - b, p).sum(-1) + eps)", [3]),
    ("d = mx.power(mx.sum((a - b) ** p, axis=-1), 1.0 / p)", [3]),
    ("d = mx.power(mx.power(mx.abs(a - b), p).sum(-1) + eps, 1.0 / p)", []),
    ("d = mx.sqrt(mx.power(a - b, 2).sum(-1) + eps)", []),  # a square: the L2 norm
    ("d = (1 - (1 - a) ** (1 / p)) ** (1 / b)", []),  # no sum: an inverse CDF (fresh39)
])
def test_mlx167_a_p_norm_of_a_signed_difference(line: str, lines: list[int]):
    # fresh57 l1_triplet_sqrt_norm (mlx PR 3613)
    code = f"""
    def dist(a, b, p=1, eps=1e-6):
        {line}
        return d
    """
    assert fired(code, "MLX167") == lines
