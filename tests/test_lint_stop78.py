"""Stop 78's lint rule: MLX257, a misspelt child of an `nn.Module` (fresh273
`kiln_glaze_latent_autoencoder`, from ml-explore/mlx-examples 4ed942d: the forward calls
`self.query_proj(x)` where `__init__` builds `self.quant_proj`).

Also: MLX120 leaves half copies only written to disk, MLX002 a mixture over the points the
model reads, MLX178 a build under a counter test joined by `and`, MLX008 arrays a helper
evaluated before returning them (each a finding on one of
fresh274-fresh276's correct loops).

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

from pathlib import Path

from lint_snippets import fired

from mlxprobe.lint import lint_source

MODEL = '''
class Autoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(4, 4)
        self.quant_proj = nn.Linear(4, 4)
        self.scale = 0.5

    def __call__(self, x):
        return {forward}
'''


def test_mlx257_fires_on_a_call_to_a_child_close_to_one_the_module_builds() -> None:
    assert fired(MODEL.format(forward="self.query_proj(self.encoder(x))"), "MLX257") == [10]


def test_mlx257_is_quiet_on_the_fixed_forward_and_on_module_members() -> None:
    for forward in ("self.quant_proj(self.encoder(x))", "self.parameters()",
                    "self.freeze()"):
        assert fired(MODEL.format(forward=forward), "MLX257") == []


def test_mlx257_leaves_what_could_be_set_elsewhere() -> None:
    # not called (a config a wrapper sets), not close to a built child, set from outside
    for forward in ("self.quant_projection_size", "self.head(x)", "self.scael(x)"):
        assert fired(MODEL.format(forward=forward), "MLX257") == []
    outside = MODEL.format(forward="self.query_proj(x)") + "m = Autoencoder()\n" \
        "m.query_proj = nn.Linear(4, 4)\n"
    assert fired(outside, "MLX257") == []


def test_mlx257_leaves_modules_filled_by_key_or_used_as_a_base() -> None:
    keyed = MODEL.format(forward="self.query_proj(x)").replace(
        "self.scale = 0.5", "self.update({'query_proj': nn.Linear(4, 4)})")
    assert fired(keyed, "MLX257") == []
    based = MODEL.format(forward="self.query_proj(x)") + (
        "class Child(Autoencoder):\n    pass\n")
    assert fired(based, "MLX257") == []


FLOAT32_MASK = '''
class Attention(nn.Module):
    def __call__(self, q, k, v):
        mask = nn.MultiHeadAttention.create_additive_causal_mask(q.shape[2])
        return mx.fast.scaled_dot_product_attention(q, k, v, scale=1.0, mask=mask)

model = Attention()
'''
PUBLISHED = '''
flat = {k: v.astype(mx.bfloat16) for k, v in tree_flatten(model.parameters())}
names = sorted(flat)
mx.save_safetensors("shard.safetensors", {k: flat[k] for k in names})
json.dump({"total_size": sum(v.nbytes for v in flat.values())}, open("index.json", "w"))
'''


def test_mlx120_leaves_half_copies_only_written_to_disk_or_counted() -> None:
    # fresh274 belfry_shard_handoff (correct): bfloat16 shards published, read back as float32
    assert fired(FLOAT32_MASK + PUBLISHED, "MLX120") == []


def test_mlx120_fires_once_the_half_copy_is_computed_with() -> None:
    used = PUBLISHED + "model.update(tree_unflatten(list(flat.items())))\n"
    assert fired(FLOAT32_MASK + used, "MLX120") == [4]
    assert fired(FLOAT32_MASK + "model.set_dtype(mx.bfloat16)\n", "MLX120") == [4]


MIXTURE = '''
def mixture_nll(model, pts):
    logit_w, mu, log_s = model(pts)
    log_w = logit_w - mx.logsumexp(logit_w, axis=-1, keepdims=True)
    d2 = mx.sum((pts[:, :, None, :] - mu[:, None, :, :]) ** 2, axis=-1)
    logc = log_w[:, None, :] - 2 * log_s[:, None, :] - 0.5 * d2
    return -mx.mean(mx.logsumexp(logc, axis=-1))
'''
NO_LABEL = '''
def loss_fn(model, x):
    logits = model((x - x.mean()) / x.std())
    log_p = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    return -mx.mean(log_p)
'''


def test_mlx002_leaves_a_mixture_over_the_points_the_model_reads() -> None:
    # fresh276 flock_collar_mixture_loop (correct): the inputs are the mixture's targets
    assert fired(MIXTURE, "MLX002") == []


def test_mlx002_still_fires_on_a_log_softmax_with_no_label() -> None:
    assert fired(NO_LABEL, "MLX002") == [5]



SVDD = Path(__file__).resolve().parents[1] / "corpus" / "fresh276" / "apiary_hum_svdd.py"


def test_mlx178_leaves_a_build_under_a_counter_test_joined_by_and() -> None:
    # fresh276 apiary_hum_svdd (correct): a simulated restart into a new model, once
    text = SVDD.read_text()
    assert "if ep == 20 and not resumed:" in text
    assert [f.line for f in lint_source(text, "svdd.py") if f.rule == "MLX178"] == []
    # its `while ep < epochs` runs 40 passes, too few to leak since stop 90's `while_count`:
    # the counter tests are read in a run of 400
    text = text.replace("epochs, bs, warm = 40, 100, 3", "epochs, bs, warm = 400, 100, 3")
    assert [f.line for f in lint_source(text, "svdd.py") if f.rule == "MLX178"] == []
    for test in ("if not resumed:", "if ep > 20 or not resumed:"):
        every = text.replace("if ep == 20 and not resumed:", test)
        assert [f.line for f in lint_source(every, "svdd.py") if f.rule == "MLX178"] == [112]


REPTILE = Path(__file__).resolve().parents[1] / "corpus" / "fresh276" / \
    "orchard_graft_scion_reptile_ok.py"
INNER_EVAL = ("            mx.eval(task_model.parameters())\n"
              "        return dict(task_model.parameters())")


def test_mlx008_leaves_arrays_a_helper_evaluated_before_returning_them() -> None:
    # fresh276 orchard_graft_scion_reptile_ok (correct): adapted task weights, evaluated in
    # the inner loop, kept in a list for one meta step
    text = REPTILE.read_text()
    assert INNER_EVAL in text
    assert [f.line for f in lint_source(text, "r.py") if f.rule == "MLX008"] == []
    lazy = text.replace(INNER_EVAL, "        return dict(task_model.parameters())")
    assert [f.line for f in lint_source(lazy, "r.py") if f.rule == "MLX008"] == [122]
