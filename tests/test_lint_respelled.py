"""The rule families spelled as users spell them (issue 24's corpus/lintheld1, scored blind):
a step behind an instance's method, a loss behind a helper, a loss function bound with
`partial`, a batch put on a queue as a tuple, layers of the module's own classes in a
container, a generator yielding each step's loss; and the near misses that must stay quiet
(state evaluated by a callback given the trainer, unique indices from a permutation, a
random feature map kept private on purpose, a layer read for a printout, a helper whose
result keeps its gradient).

Cost: < 1 s (no MLX).
"""

from __future__ import annotations

from lint_snippets import fired

# MLX001 through an instance's method; a callback given the trainer may evaluate -----------

TRAINER = """
class Trainer:
    def __init__(self, net):
        self.net, self.opt = net, optim.AdamW(learning_rate=1e-3)
        self.vg = nn.value_and_grad(net, lambda m, x: m(x).sum())
        self.callbacks = []

    def step(self, x):
        loss, grads = self.vg(self.net, x)
        self.opt.update(self.net, grads)
        return loss

    def run(self, xs):
        for x in xs:
            loss = self.step(x)
            {hook}

trainer = Trainer(nn.Linear(2, 1))
for x in data:
    trainer.step(x)
"""


def test_mlx001_follows_a_step_behind_an_instances_method() -> None:
    assert fired(TRAINER.format(hook="pass"), "MLX001") == [10]


def test_mlx001_trusts_a_callback_handed_the_object_holding_the_optimizer() -> None:
    code = TRAINER.format(hook="for cb in self.callbacks: cb.on_step_end(self, loss)")
    code = code.replace("for x in data:\n    trainer.step(x)", "trainer.run(data)")
    assert fired(code, "MLX001") == []


# MLX016 through a loss helper -----------------------------------------------------------

PINBALL = """
Q = 0.9

def pinball(pred, target, q=Q):
    err = {err}
    return mx.mean(mx.maximum(q * err, (q - 1) * err))

def objective(model, x, y):
    return pinball(model(x), y)

step = nn.value_and_grad(model, objective)
"""


def test_mlx016_follows_the_loss_into_a_helper_that_leaves_through_numpy() -> None:
    code = PINBALL.format(err="mx.array(np.array(target) - np.array(pred))")
    assert fired(code, "MLX016") == [5]


def test_mlx016_is_quiet_when_the_helper_keeps_the_gradient_of_its_argument() -> None:
    code = PINBALL.format(err="target - pred  # np.array(target) for a printout elsewhere")
    assert fired(code + "\nprint(np.array(Q))\n", "MLX016") == []
    assert fired(PINBALL.format(err="mx.array(np.array(target)) - pred"), "MLX016") == []


# MLX036 through partial, with the layer read for a printout ------------------------------

MOE = """
class MoE(nn.Module):
    def __init__(self):
        super().__init__()
        self.router = nn.Linear(4, 2)
        self.experts = [nn.Linear(4, 1) for _ in range(2)]

    def __call__(self, x):
        gate = mx.stop_gradient(mx.softmax(self.router(x), axis=-1))
        return (gate * mx.concatenate([e(x) for e in self.experts], axis=-1)).sum(-1)

def loss_fn(model, x, y, l2):
    return ((model(x) - y) ** 2).mean()

def snapshot(module):
    return [mx.array(p) for _, p in tree_flatten(module.parameters())]

moe = MoE()
before = snapshot(moe.router)
step = nn.value_and_grad(moe, partial(loss_fn, l2=1e-4))
{after}
"""


def test_mlx036_sees_the_loss_bound_with_partial_and_a_printout_read() -> None:
    assert fired(MOE.format(after="print(moe.router.parameters())"), "MLX036") == [9]


def test_mlx036_is_quiet_when_the_layer_is_updated_elsewhere() -> None:
    after = "moe.router.update(tree_map(lambda p: 0.9 * p, moe.router.parameters()))"
    assert fired(MOE.format(after=after), "MLX036") == []


# MLX026: a tuple of lazy arrays put on a queue --------------------------------------------

PREFETCH = """
class Prefetcher:
    def __init__(self, q):
        self.q = q
        threading.Thread(target=self._work, daemon=True).start()

    def _work(self):
        for i in range(10):
            xb = mx.random.normal((4, 2)) * 2
            yb = mx.array([1, 0, 1, 0])
            {evaluate}
            self.q.put((xb, yb))
"""


def test_mlx026_finds_a_tuple_of_lazy_arrays_leaving_the_thread() -> None:
    assert fired(PREFETCH.format(evaluate="pass"), "MLX026") == [12]


def test_mlx026_is_quiet_when_the_thread_evaluates_them_first() -> None:
    assert fired(PREFETCH.format(evaluate="mx.eval(xb, yb)"), "MLX026") == []


# MLX013: layers of the module's own classes in a hand-written container -------------------

BLOCKS = """
class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc = nn.Linear(d, d)

class BlockList:
    def __init__(self, blocks):
        self._blocks = list(blocks)

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = {container}
"""


def test_mlx013_finds_the_modules_own_layers_in_a_plain_container() -> None:
    assert fired(BLOCKS.format(container="BlockList(Block(8) for _ in range(3))"),
                 "MLX013") == [14]


def test_mlx013_is_quiet_on_a_plain_list_or_a_container_of_numbers() -> None:
    assert fired(BLOCKS.format(container="[Block(8) for _ in range(3)]"), "MLX013") == []
    assert fired(BLOCKS.format(container="BlockList(range(3))"), "MLX013") == []


# MLX008: a training generator's yielded losses summed ------------------------------------

GENERATOR = """
def train_steps(model, opt, batches):
    vg = nn.value_and_grad(model, lambda m, x: m(x).sum())
    for x in batches:
        loss, grads = vg(model, x)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        yield {value}

total = mx.array(0.0)
for loss in train_steps(model, opt, data):
    total = total + loss
print(total.item())
"""


def test_mlx008_follows_the_losses_a_training_generator_yields() -> None:
    assert fired(GENERATOR.format(value="loss"), "MLX008") == [12]


def test_mlx008_is_quiet_when_the_generator_yields_python_numbers() -> None:
    assert fired(GENERATOR.format(value="loss.item()"), "MLX008") == []


# MLX063: indices that are a slice of a permutation never repeat --------------------------

EMA = """
def update(probs, n, batch):
    ensemble = mx.zeros((n, 3))
    perm = mx.random.permutation(n)
    for i in range(0, n, batch):
        ids = {ids}
        ensemble[ids] += 0.1 * (probs[ids] - ensemble[ids])
    return ensemble
"""


def test_mlx063_is_quiet_on_a_slice_of_a_permutation() -> None:
    assert fired(EMA.format(ids="perm[i:i + batch]"), "MLX063") == []


def test_mlx063_still_finds_indices_that_can_repeat() -> None:
    assert fired(EMA.format(ids="mx.random.randint(0, n, (batch,))"), "MLX063") == [7]
    assert fired(EMA.format(ids="mx.remainder(perm[i:i + batch], 7)"), "MLX063") == [7]


# MLX019: a private random feature map beside trained sub-layers --------------------------

FEATURES = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self._freqs = mx.random.normal((1, 16)) * 6.0
        {other}

    def __call__(self, x):
        z = x @ self._freqs
        return self.readout(mx.concatenate([mx.sin(z), mx.cos(z)], axis=-1))
"""


def test_mlx019_is_quiet_on_a_fixed_feature_map_feeding_trained_layers() -> None:
    assert fired(FEATURES.format(other="self.readout = nn.Linear(32, 1)"), "MLX019") == []


def test_mlx019_fires_beside_the_modules_own_trainable_arrays() -> None:
    other = "self.readout = nn.Linear(32, 1); self.bias = mx.zeros((16,))"
    assert fired(FEATURES.format(other=other), "MLX019") == [5]
