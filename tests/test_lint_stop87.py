"""Stop 87's lint changes.

- MLX029 and MLX045 follow the quantized model only until its name is bound to another
  model (`model = build_packed(path)`, a value not made from `model`): what the name holds
  from there was built, quantized, frozen and given adapters elsewhere (fresh321
  `archive_card_contrastive_resume`, a correct QLoRA resume, was found by both).
- MLX154 counts a NumPy table made an MLX array (`mx.array(np.arange(n)[None, :])`) as it
  counts `mx.arange`'s: fresh321 `herbarium_sheet_cliptower` (mlx-vlm a481a5b, CLIP's
  stored position ids raised '[gather] Cannot calculate VJP with respect to indices') was
  missed.
- MLX105 asks that the append run once per optimizer step: in the loop that steps (or in a
  step function with no loop around it), not in a loop after training that evaluates each
  kept snapshot for an ensemble (fresh323 `glock_bar_snapshots`, correct, was found).
- MLX090 reads `tree_map(lambda g: mx.distributed.all_sum(g) / n_glob, grads)` as the summed
  gradients made a mean, as it reads `lambda g: g / n` (fresh324 `skep_ledger_ringpair`,
  correct: a summed loss per rank, averaged over every rank's rows, was found).

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

from lint_snippets import TRAINED, fired

REBUILT = """
def build_packed(path):
    m = Net()
    nn.quantize(m, group_size=32, bits=8)
    m.load_weights(path)
    m.freeze()
    m.head = LoRALinear.from_base(m.head, r=4)
    return m

model = Net()
nn.quantize(model, group_size=32, bits=8)
model.save_weights("base.safetensors")
model = build_packed("base.safetensors")
model.load_weights("adapters.safetensors", strict=False)
vg = nn.value_and_grad(model, loss_fn)
for step in range(3):
    loss, grads = vg(model, x, y)
    opt.update(model, grads)
"""

KEPT = """
model = Net()
nn.quantize(model, group_size=32, bits=8)
model = model
model.load_weights("float.safetensors", strict=False)
vg = nn.value_and_grad(model, loss_fn)
for step in range(3):
    loss, grads = vg(model, x, y)
    opt.update(model, grads)
"""


def test_a_model_rebuilt_under_the_same_name_is_another_model() -> None:
    assert fired(REBUILT, "MLX029") == []
    assert fired(REBUILT, "MLX045") == []


def test_a_name_bound_to_itself_is_still_the_quantized_model() -> None:
    assert fired(KEPT, "MLX029") == [3]
    assert fired(KEPT, "MLX045") == [5]


POSITION_IDS = """
class Embeddings(nn.Module):
    def __init__(self, n=17, d=8):
        super().__init__()
        self.position_embedding = nn.Embedding(n, d)
        self.position_ids = mx.array(np.arange(n)[None, :])
        self.spare = np.arange(n)

    def __call__(self, x):
        return x + self.position_embedding(self.position_ids)
""" + TRAINED


def test_numpy_positions_made_an_array_are_a_trained_table() -> None:
    assert fired(POSITION_IDS, "MLX154") == [6]


def test_positions_built_in_the_forward_are_no_table() -> None:
    fixed = POSITION_IDS.replace("        self.position_ids = mx.array(np.arange(n)[None, :])\n",
                                 "").replace("self.position_ids)", "mx.array(np.arange(17)))")
    assert fired(fixed, "MLX154") == []


SNAPSHOT_ENSEMBLE = """
model = nn.Linear(4, 4)
opt = optim.SGD(learning_rate=0.1)

def main(lg, data, x_test):
    snapshots = []
    for epoch in range(3):
        for x, y in data:
            loss, grads = lg(model, x, y)
            opt.update(model, grads)
        snapshots.append(dict(tree_flatten(model.parameters())))
    preds = []
    for snap in snapshots:
        model.load_weights(list(snap.items()))
        p = model(x_test)
        preds.append(p)
    return mx.mean(mx.stack(preds), axis=0)
"""

KEPT_EACH_STEP = """
model = nn.Linear(4, 4)
opt = optim.SGD(learning_rate=0.1)

def main(lg, data):
    kept = []
    for x, y in data:
        loss, grads = lg(model, x, y)
        opt.update(model, grads)
        out = model(x)
        kept.append(out)
"""


def test_predictions_of_each_snapshot_after_training_are_no_step_output() -> None:
    assert fired(SNAPSHOT_ENSEMBLE, "MLX105") == []


def test_an_output_kept_in_the_stepping_loop_is_still_found() -> None:
    assert fired(KEPT_EACH_STEP, "MLX105") == [11]


RANK_AVERAGED = """
def sum_loss(m, xb, yb):
    return mx.sum((m(xb) - yb) ** 2)

grad_fn = nn.value_and_grad(model, sum_loss)
for step in range(10):
    loss_sum, grads = grad_fn(model, x, y)
    n_glob = mx.distributed.all_sum(mx.array(float(x.shape[0])))
    grads = tree_map(lambda g: mx.distributed.all_sum(g) / n_glob, grads)
    opt.update(model, grads)
"""


def test_summed_gradients_averaged_after_a_collective_are_a_mean() -> None:
    assert fired(RANK_AVERAGED, "MLX090") == []


def test_summed_gradients_left_summed_are_still_found() -> None:
    summed = RANK_AVERAGED.replace("all_sum(g) / n_glob", "all_sum(g)")
    assert fired(summed, "MLX090") == [3]
