"""Stop 61's lint changes, on small programs with the spellings beside them that must stay
silent. MLX188: a one-pass iterator made once before an epoch loop and read inside it
(failure corpus fresh145 `wastebin_loader_epochs`, mctosima/mlx_playground 804c742: numpy
generator loaders built before `for epoch`, so epochs 1-7 trained nothing).

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

LOADER = """
def data_loader(xs, ys, batch_size):
    for start in range(0, len(xs), batch_size):
        yield mx.array(xs[start:start + batch_size]), mx.array(ys[start:start + batch_size])

def train(model, xs, ys, epochs=8):
    optimizer = optim.SGD(learning_rate=0.05)
    step = nn.value_and_grad(model, loss_fn)
    {made_before}
    for epoch in range(epochs):
        {made_inside}
        for idx, (x, y) in {read}:
            loss, grads = step(model, x, y)
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state)
        print(f"Epoch: {{epoch}}, loss {{loss.item():.3f}}")
"""


def loader(made_before: str = "", made_inside: str = "pass", read: str = "enumerate(batches)"
           ) -> str:
    return LOADER.format(made_before=made_before, made_inside=made_inside, read=read)


@pytest.mark.parametrize("made", [
    "batches = data_loader(xs, ys, 32)",
    "batches = zip(xs, ys)",
    "batches = iter(list(zip(xs, ys)))",
    "batches = ((xs[i], ys[i]) for i in range(len(xs)))",
    "batches = map(prepare, zip(xs, ys))",
])
def test_a_one_pass_iterator_made_before_the_epoch_loop_fires(made: str) -> None:
    assert fired(loader(made_before=made), "MLX188") == [9]


@pytest.mark.parametrize("read", ["batches", "tqdm(batches)", "enumerate(batches)"])
def test_every_plain_read_of_it_fires(read: str) -> None:
    assert fired(loader(made_before="batches = data_loader(xs, ys, 32)", read=read),
                 "MLX188") == [9]


@pytest.mark.parametrize("made_before, made_inside, read", [
    ("", "batches = data_loader(xs, ys, 32)", "enumerate(batches)"),  # the fix: per epoch
    ("batches = list(data_loader(xs, ys, 32))", "pass", "enumerate(batches)"),  # a list
    ("batches = data_loader(xs, ys, 32)", "pass", "zip(range(4), batches)"),  # a slice
    ("batches = forever(xs, ys)", "pass", "enumerate(batches)"),  # an endless stream
    ("batches = itertools.cycle(pairs)", "pass", "enumerate(batches)"),
    ("batches = data_loader(xs, ys, 32)\n    batches = list(batches)", "pass", "batches"),
])
def test_lists_fresh_iterators_slices_and_endless_streams_stay_silent(
        made_before: str, made_inside: str, read: str) -> None:
    program = loader(made_before=made_before, made_inside=made_inside, read=read) + """
def forever(xs, ys):
    while True:
        for x, y in zip(xs, ys):
            yield x, y
"""
    assert fired(program, "MLX188") == []


def test_an_inner_loop_that_breaks_reads_a_part_and_stays_silent() -> None:
    program = loader(made_before="batches = data_loader(xs, ys, 32)").replace(
        "mx.eval(model.parameters(), optimizer.state)",
        "mx.eval(model.parameters(), optimizer.state)\n            break")
    assert fired(program, "MLX188") == []


def test_an_outer_loop_that_runs_once_stays_silent() -> None:
    program = loader(made_before="batches = data_loader(xs, ys, 32)").replace(
        "range(epochs)", "range(1)")
    assert fired(program, "MLX188") == []


# MLX125 and the rules that read a transformed function by name: a plain name bound to a
# bound method is not the class's def (fresh149 `towpath_dqn_outside_loss_ok`: `loss_fn =
# self.policy_net.loss_fn`, three arguments passed, `self` read as a fourth).
BOUND = """
class QNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def loss_fn(self, state, action, target):
        return mx.mean((self.fc(state) - target) ** 2)

class Agent:
    def step(self, state, action, target):
        {bind}
        loss_and_grad = nn.value_and_grad(self.net, loss_fn)
        loss, grads = loss_and_grad(state, action, target)
        self.opt.update(self.net, grads)
        mx.eval(self.net.parameters(), self.opt.state)
"""


def test_a_bound_method_under_a_plain_name_is_not_read_as_its_def() -> None:
    assert fired(BOUND.format(bind="loss_fn = self.net.loss_fn"), "MLX125") == []


def test_a_module_function_called_short_still_fires() -> None:
    program = BOUND.format(bind="pass") + """
def loss_fn(model, state, action, target, weight):
    return mx.mean((model.fc(state) - target) ** 2) * weight
"""
    assert fired(program, "MLX125") == [14]


# MLX134: an element of a NumPy split used as an MLX index, in a script with no functions
# (fresh153 `waterwell_strike_oof`, bert-playground b172129: `oof[val_idx] = probs` with
# `val_idx = folds[k]`, `folds = np.array_split(perm, K)`).
FOLDS = """
perm = np.random.permutation(100)
folds = np.array_split(perm, 5)
oof = mx.zeros((100,))
for k in range(5):
    val_idx = {index}
    oof[{use}] = mx.ones((len(val_idx),))
"""


def test_an_element_of_a_numpy_split_as_an_mlx_index_fires() -> None:
    assert fired(FOLDS.format(index="folds[k]", use="val_idx"), "MLX134") == [7]


@pytest.mark.parametrize("index, use", [
    ("folds[k]", "mx.array(val_idx)"),  # the fix: an MLX index
    ("list(folds[k])", "val_idx"),  # not every binding a split's element
])
def test_an_mlx_index_or_another_binding_stays_silent(index: str, use: str) -> None:
    assert fired(FOLDS.format(index=index, use=use), "MLX134") == []


# MLX189: PyTorch's -100 ignore index in cross_entropy's targets, unmasked (fresh154
# `capital_quiz_ignore100`, atyronesmith/ft 9ae0190: loss 3.24 -> 1.49e6).
IGNORED = """
IGNORE = -100

def pad_labels(lab, n):
    return lab + [IGNORE] * (n - len(lab))

def loss_fn(model, x, y):
    logits = model(x)
    {loss}

def accuracy(model, x, y):
    keep = y != IGNORE
    return ((model(x).argmax(-1) == y) * keep).sum() / keep.sum()
"""


def test_minus_100_targets_averaged_unmasked_fire() -> None:
    program = IGNORED.format(loss='return nn.losses.cross_entropy(logits, y, reduction="mean")')
    assert fired(program, "MLX189") == [9]
    wrapped = IGNORED.format(loss="return mx.mean(nn.losses.cross_entropy(logits, y))")
    assert fired(wrapped, "MLX189") == [9]


@pytest.mark.parametrize("loss", [
    # the fix: the mask in the loss
    "valid = y != IGNORE\n    ce = nn.losses.cross_entropy(logits, mx.where(valid, y, 0), "
    "reduction=\"none\")\n    return (ce * valid).sum() / valid.sum()",
    # per-token losses weighed by a mask made elsewhere
    "return nn.losses.cross_entropy(logits, mx.maximum(y, 0))",
])
def test_a_masked_or_per_token_loss_stays_silent(loss: str) -> None:
    assert fired(IGNORED.format(loss=loss), "MLX189") == []


def test_minus_100_as_a_slice_bound_or_a_range_is_no_label() -> None:
    program = """
def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

window = losses[-100:]
offset = np.random.uniform(-100, 100, (8, 1))
"""
    assert fired(program, "MLX189") == []


# MLX008: a replay buffer of each stage's data, joined back into the training set the stage
# trains on with an evaluated step, is data, not a result kept unevaluated (fresh156
# `sleddog_pace_stagewarm`).
REPLAY = """
def train(model, stages):
    opt = optim.Adam(learning_rate=1e-3)
    step = nn.value_and_grad(model, loss_fn)
    seen_x, seen_y = [], []
    for n in stages:
        xs, ys = make_data(n)
        seen_x.append(xs)
        seen_y.append(ys)
        X = mx.concatenate(seen_x)
        Y = mx.concatenate(seen_y)
        for b in range(0, X.shape[0], 32):
            loss, grads = step(model, X[b:b + 32], Y[b:b + 32])
            opt.update(model, grads)
            {evaluate}

def make_data(n):
    return mx.random.normal((n, 4)), mx.random.normal((n, 1))
"""


def test_a_replay_buffer_joined_back_into_an_evaluated_training_set_stays_silent() -> None:
    program = REPLAY.format(evaluate="mx.eval(loss, model.parameters(), opt.state)")
    assert fired(program, "MLX008") == []


def test_losses_kept_beside_it_still_fire() -> None:
    program = REPLAY.format(evaluate="mx.eval(model.parameters(), opt.state)").replace(
        "        seen_x.append(xs)\n", "        seen_x.append(xs)\n        kept.append(loss)\n"
    ).replace("    seen_x, seen_y = [], []\n",
              "    seen_x, seen_y, kept = [], [], []\n    loss = None\n")
    assert fired(program, "MLX008") == [10]  # `kept.append(loss)`, not the buffer
