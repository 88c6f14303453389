"""Stop 56's lint rule MLX175, on small programs with the spellings beside them that must stay
silent: a trained model that holds BatchNorm, called on a batch of one example with no
`.eval()` in the file (failure corpus fresh97 `lid_embed_bn_eval`, mlx-audio PR 896: mlx
0.32.4 raises "BatchNorm training requires more than one value per channel").

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

PROGRAM = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 16)
        self.bn = {norm}(16)
        self.head = nn.Linear(16, 3)

    def __call__(self, x):
        return self.head(nn.relu(self.bn(self.fc(x))))

def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

def predict_one(net, x):
    return mx.argmax(net({one}), axis=-1).item()

model = Net()
opt = optim.Adam(learning_rate=1e-3)
step = nn.value_and_grad(model, loss_fn)
for epoch in range(3):
    for i in range(0, 256, 32):
        loss, grads = step(model, X[i:i + 32], Y[i:i + 32])
        {update}
        mx.eval(model.parameters(), opt.state)
    {mode}
    hits = sum(predict_one(model, X[j]) == Y[j].item() for j in range(8))
"""


def lines(norm="nn.BatchNorm", one="x[None]", update="opt.update(model, grads)", mode=""):
    return fired(PROGRAM.format(norm=norm, one=one, update=update, mode=mode), "MLX175")


@pytest.mark.parametrize("one", ["x[None]", "x[None, :]", "mx.expand_dims(x, 0)",
                                 "x.reshape(1, -1)"])
def test_mlx175_fires_on_a_batch_of_one_through_a_trained_batchnorm_model(one: str):
    assert lines(one=one) == [16]  # the call in predict_one, which receives the model


@pytest.mark.parametrize("kwargs", [
    {"mode": "model.eval()"},  # running statistics at inference
    {"mode": "model.train(False)"},
    {"norm": "nn.LayerNorm"},  # no batch statistics
    {"one": "x[None].repeat(4, axis=0)"},  # not one example
    {"update": "pass"},  # never trained here: not this rule's business
])
def test_mlx175_stays_silent_in_eval_mode_or_without_a_trained_batchnorm(kwargs: dict):
    assert lines(**kwargs) == []


def test_mlx175_fires_on_a_one_wide_slice_called_by_the_model_s_own_name():
    code = PROGRAM.format(norm="nn.BatchNorm", one="x[None]", update="opt.update(model, grads)",
                          mode="") + "    out = model(X[j:j + 1])\n"
    assert fired(code, "MLX175") == [16, code.count("\n")]


LOADER = """
def train(shards, steps):
    data_iter = chunks(shards)

    def next_batch():
        {decl}
        try:
            return next(data_iter)
        except StopIteration:
            {handler}

    for step in range(steps):
        x, y = next_batch()
"""


@pytest.mark.parametrize("decl, handler, fires", [
    # MLX176: the restart lands in another name; data_iter stays exhausted
    ("pass", "fresh = chunks(shards)\n            return next(fresh)", True),
    ("pass", "print('restart')\n            new_iter = iter(chunks(shards))\n"
     "            return next(new_iter)", True),
    # the name the loop reads is bound again
    ("nonlocal data_iter", "data_iter = chunks(shards)\n            return next(data_iter)",
     False),
    # no new iterator read in the handler: an end of data handled otherwise
    ("pass", "return None", False),
])
def test_mlx176_an_iterator_restarted_into_another_name(decl: str, handler: str, fires: bool):
    code = LOADER.format(decl=decl, handler=handler)
    compile(code, "case.py", "exec")  # each variant is a valid program
    found = fired(code, "MLX176")
    assert bool(found) == fires, found


GATE = """
class Gate(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Linear(8, 4)

    def __call__(self, h):
        logits = self.w(h)
        kth = {bound}
        masked = mx.where({condition}, -mx.inf)
        return mx.softmax(masked, axis=-1)

def loss_fn(model, x, y):
    return mx.mean((model(x).sum(axis=-1) - y) ** 2)

model = Gate()
loss_and_grad = nn.value_and_grad(model, loss_fn)
"""


@pytest.mark.parametrize("bound, condition, fires", [
    # a top-k mask of the scores themselves keeps each row's largest: no row is all -inf
    ("mx.sort(logits, axis=-1)[:, -2][:, None]", "logits >= kth, logits", False),
    ("logits.max(axis=-1, keepdims=True)", "kth <= logits, logits", False),
    # a threshold that is not the scores' own order statistic can mask a whole row
    ("0.5", "logits >= kth, logits", True),
    ("mx.sort(h, axis=-1)[:, -2][:, None]", "logits >= kth, logits", True),
    # a strict comparison with the maximum keeps nothing
    ("logits.max(axis=-1, keepdims=True)", "logits > kth, logits", True),
])
def test_mlx035_stands_down_on_a_top_k_mask_of_the_scores_themselves(bound: str,
                                                                     condition: str,
                                                                     fires: bool):
    found = fired(GATE.format(bound=bound, condition=condition), "MLX035")
    assert bool(found) == fires, found


@pytest.mark.parametrize("line, fires", [
    # MLX170: a share of the rows, divided first
    ("n_train = len(rows) // 10 * 8", True),
    # a schedule's length in steps, epochs times batches: no share of the rows
    ("sched = optim.cosine_decay(4e-4, 6 * (len(rows) // 64), 2e-5)", False),
    ("sched = optim.cosine_decay(4e-4, decay_steps=6 * (len(rows) // 64))", False),
])
def test_mlx170_stands_down_on_a_schedule_s_length(line: str, fires: bool):
    assert bool(fired(line + "\n", "MLX170")) == fires
