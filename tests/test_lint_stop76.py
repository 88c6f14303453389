"""Stop 76's lint changes: rule MLX255 (module state under a `_` name, updated from itself and
never evaluated), on the spelling its corpus case had and on the correct shapes it must leave
alone; MLX212 naming the parameter a shifted argument list left out.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

from lint_snippets import HEADER, fired

from mlxprobe.lint import lint_source

NORM = """
class Norm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = mx.ones((d,))
        self._running_mean = mx.zeros((d,))

    def __call__(self, x):
        if self.training:
            mean = x.mean(axis=0)
            self._running_mean = 0.9 * self._running_mean + 0.1 * mean
            EVALUATED
        else:
            mean = self._running_mean
        return self.weight * (x - mean)


model = nn.Sequential(nn.Linear(4, 4), Norm(4))
optimizer = optim.Adam(learning_rate=1e-3)
loss_and_grad = nn.value_and_grad(model, lambda m, x: m(x).sum())
for x in batches():
    loss, grads = loss_and_grad(model, x)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state, loss)
    VALIDATION
"""


def _norm(evaluated: str = "pass", validation: str = "pass") -> str:
    return NORM.replace("EVALUATED", evaluated).replace("VALIDATION", validation)


def test_private_running_state_never_evaluated_is_found_at_its_update() -> None:
    # fresh26 bn_hidden_stats_lazy_graph (softgrad d2dfaec): RSS 49.7 -> 95.8 MB in 1,280 steps
    assert fired(_norm(), "MLX255") == [11]


def test_private_running_state_evaluated_after_its_update_is_left_alone() -> None:
    assert fired(_norm("mx.eval(self._running_mean)"), "MLX255") == []


def test_a_loop_that_switches_to_evaluation_mode_computes_the_chain_each_pass() -> None:
    # fresh212 rennet_curd_runstats_ckpt: accuracy() in eval mode each epoch reads the state
    assert fired(_norm(validation="model.eval(); model(x); model.train()"), "MLX255") == []


def test_public_running_state_is_not_this_rule() -> None:
    assert fired(_norm().replace("_running_mean", "running_mean"), "MLX255") == []


SPECTRAL = """
class SNLinear(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = mx.random.normal((d, d))
        self._u = mx.random.normal((d,))

    def __call__(self, x):
        self._u = self.weight @ self._u / mx.linalg.norm(self.weight @ self._u)
        sigma = self._u @ self.weight @ self._u
        return x @ (self.weight / sigma).T
"""


def test_a_private_vector_read_by_the_output_after_its_update_is_left_alone() -> None:
    # the output depends on it: it is computed whenever the loss is
    assert fired(SPECTRAL, "MLX255") == []


SHIFTED = """
def test(model, bin_size, val_path, batch_size, eval_fn, lax_eval_fn, num_batches=10):
    return 0.0


def evaluate(model, val_path, batch_size, eval_fn, lax_eval_fn):
    return test(model, val_path, batch_size, eval_fn, lax_eval_fn, num_batches=500)


def train(model, optimizer, batches):
    for grads in batches:
        optimizer.update(model, grads)
"""


def test_an_argument_list_shifted_by_a_left_out_parameter_names_that_parameter() -> None:
    # fresh265 gambit_ledger_sweep (chessNetV2 b75a0a3): Python names lax_eval_fn as missing
    found = [f for f in lint_source(HEADER + SHIFTED, "case.py") if f.rule == "MLX212"]
    assert len(found) == 1 and found[0].message.endswith("`bin_size` left out")


def test_a_call_missing_its_last_argument_says_nothing_more() -> None:
    code = SHIFTED.replace("test(model, val_path, batch_size, eval_fn, lax_eval_fn, "
                           "num_batches=500)", "test(model, 4, val_path, batch_size, eval_fn)")
    found = [f for f in lint_source(HEADER + code, "case.py") if f.rule == "MLX212"]
    assert len(found) == 1 and "left out" not in found[0].message


ROLLOUT = """
def rollout(speed, k):
    x = mx.zeros_like(speed)
    xs = [x]
    for _ in range(20):
        speed = speed - 0.1 * k * speed
        x = x + 0.1 * speed
        xs.append(x)
    X = mx.stack(xs, axis=-1)
    i = mx.stop_gradient(mx.argmax(X > 1.0, axis=-1)[..., None])
    return mx.take_along_axis(X, i, axis=-1)[..., 0]


def loss_fn(p, v, d):
    return mx.mean((rollout(v, mx.exp(p["log_k"])) - d) ** 2)


loss, grads = mx.value_and_grad(loss_fn)(params, v, d)
"""


def test_a_list_grown_with_values_that_carry_a_gradient_carries_one() -> None:
    # fresh266 drift_chute_throw_sysid: a rollout's states appended to a list started from zeros
    assert fired(ROLLOUT, "MLX016") == []


def test_a_list_grown_only_with_cut_values_still_cuts_the_gradient() -> None:
    cut = ROLLOUT.replace("xs.append(x)", "xs.append(mx.stop_gradient(x))").replace(
        "mx.take_along_axis(X, i, axis=-1)[..., 0]", "X.sum()")
    assert fired(cut, "MLX016") != []


TABLES = """
class TimeMix(nn.Module):
    def __init__(self, dim):
        super().__init__()
        ch = mx.arange(dim) / dim
        self.mix_k = 1.0 - ch ** 0.5
        self.rope = nn.RoPE(dim // 4)
        self._gammas = 1.0 - 2.0 ** (-2.0 - mx.arange(4))
        self.inv_freq = 1.0 / (10000 ** (mx.arange(0, dim, 2) / dim))

    def __call__(self, x, xx):
        x = x * self.mix_k + xx * (1 - self.mix_k)
        return self.rope(x) * self.inv_freq.sum() * self._gammas.sum()


model = TimeMix(8)
optimizer = optim.Adam(learning_rate=1e-3)
for x, xx in batches():
    loss, grads = nn.value_and_grad(model, lambda m: m(x, xx).sum())(model)
    optimizer.update(model, grads)
"""


def test_a_mixing_weight_and_a_layer_built_beside_a_private_table_are_no_tables() -> None:
    # fresh266 millrace_sluice_wkv (RWKV token shift) and belfry_hunt_retention (nn.RoPE
    # after a `self._gammas` from mx.arange): only the inverse frequencies are a table
    assert fired(TABLES, "MLX154") == [9]


PADDED = """
class Classifier(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.qkv = nn.Linear(d, 3 * d)
        self.head = nn.Linear(d, 2)

    def __call__(self, h, attention_mask):
        q, k, v = mx.split(self.qkv(h)[:, None], 3, axis=-1)
        mask = MASK
        a = mx.fast.scaled_dot_product_attention(q, k, v, scale=1.0, mask=mask)[:, 0]
        m = attention_mask[..., None]
        return self.head((a * m).sum(1) / m.sum(1))
"""


def test_a_keep_mask_cast_to_float_for_attention_is_found() -> None:
    # fresh121 review_pad_additive_mask (mlx-embeddings PR 43): padding attended with +0
    assert fired(PADDED.replace("MASK", "attention_mask[:, None, None, :].astype(h.dtype)"),
                 "MLX256") == [11]


def test_an_additive_or_boolean_mask_is_left_alone() -> None:
    additive = "mx.where(attention_mask[:, None, None, :].astype(mx.bool_), 0.0, -mx.inf)"
    assert fired(PADDED.replace("MASK", additive), "MLX256") == []
    assert fired(PADDED.replace("MASK", "attention_mask[:, None, None, :].astype(mx.bool_)"),
                 "MLX256") == []
    scaled = "(1.0 - attention_mask[:, None, None, :].astype(h.dtype)) * -1e9"
    assert fired(PADDED.replace("MASK", scaled), "MLX256") == []


def test_a_cast_mask_the_function_never_uses_as_weights_is_left_alone() -> None:
    # an additive mask handed down and cast to the activations' dtype (mlx-lm's models)
    code = PADDED.replace("MASK", "attention_mask.astype(h.dtype)").replace(
        "m = attention_mask[..., None]\n        return self.head((a * m).sum(1) / m.sum(1))",
        "return self.head(a.mean(1))")
    assert fired(code, "MLX256") == []
