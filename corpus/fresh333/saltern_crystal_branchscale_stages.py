"""Saltern pan monitoring: classify the crystallisation stage of a brine pan from
eight synthetic pan readings, then carry the learned trunk to a second saltern.

Network: a normalisation-free residual MLP with the residual initialisation of Zhang,
Dauphin & Ma (2019): in each residual branch the first Linear is He-initialised
and scaled by L**-0.5 (L = number of branches, two layers per branch), the last
Linear of each branch and the classifier start at exactly zero, scalar biases
start at 0 and the scalar multiplier at 1.

Stage A: 3 stages at the home saltern, SGD with Nesterov momentum, cosine decay.
Stage B: the trunk is saved, a fresh network is built for the 4-stage scheme of
a second saltern, the trunk weights are loaded into it and the new classifier
is re-initialised to zero (same rule) after loading; everything is fine-tuned.
The loss jumps at the stage switch because the head is new.
"""

import math
import os
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

FEATURES = 8
WIDTH = 64
BRANCHES = 4


class ScaledBranch(nn.Module):
    def __init__(self, width, n_branches):
        super().__init__()
        self.bias_in = mx.zeros((1,))
        self.fc1 = nn.Linear(width, width, bias=False)
        self.bias_mid = mx.zeros((1,))
        self.fc2 = nn.Linear(width, width, bias=False)
        self.scale = mx.ones((1,))
        self.bias_out = mx.zeros((1,))
        he = nn.init.he_normal()(self.fc1.weight)
        self.fc1.weight = he * (n_branches ** -0.5)
        self.fc2.weight = mx.zeros_like(self.fc2.weight)

    def __call__(self, x):
        h = nn.relu(self.fc1(x + self.bias_in) + self.bias_mid)
        return nn.relu(x + self.fc2(h) * self.scale + self.bias_out)


class PanNet(nn.Module):
    def __init__(self, n_classes):
        super().__init__()
        self.stem = nn.Linear(FEATURES, WIDTH)
        self.blocks = [ScaledBranch(WIDTH, BRANCHES) for _ in range(BRANCHES)]
        self.head = nn.Linear(WIDTH, n_classes)
        self.zero_head()

    def zero_head(self):
        self.head.weight = mx.zeros_like(self.head.weight)
        self.head.bias = mx.zeros_like(self.head.bias)

    def __call__(self, x):
        h = nn.relu(self.stem(x))
        for b in self.blocks:
            h = b(h)
        return self.head(h)


def make_pans(rng, n, n_classes, shift):
    x = rng.normal(size=(n, FEATURES)).astype(np.float32)
    # made-up crystallisation index: density, evaporation, depth and wind terms
    idx = (1.4 * x[:, 0] + 0.9 * x[:, 1] * x[:, 2] - 0.7 * x[:, 3] ** 2
           + 0.5 * np.sin(2.0 * x[:, 4]) + shift * x[:, 5]
           + 0.25 * rng.normal(size=n))
    cuts = np.quantile(idx, np.linspace(0, 1, n_classes + 1)[1:-1] + 0.05)
    y = np.digitize(idx, cuts).astype(np.int32)
    return mx.array(x), mx.array(y)


def evaluate(model, x, y):
    logits = model(x)
    loss = nn.losses.cross_entropy(logits, y, reduction="mean").item()
    acc = (mx.argmax(logits, axis=1) == y).mean().item()
    return loss, acc


def run_stage(name, model, data, epochs, lr, rng):
    x_tr, y_tr, x_te, y_te = data
    n = x_tr.shape[0]
    steps_per_epoch = n // 128
    sched = optim.cosine_decay(lr, epochs * steps_per_epoch, lr * 0.02)
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y, reduction="mean")

    lg = nn.value_and_grad(model, loss_fn)
    counts = np.bincount(np.array(y_te))
    majority = counts.max() / counts.sum()
    print(f"{'stage':<6}{'epoch':>6}{'lr':>10}{'train_ce':>10}{'test_ce':>10}"
          f"{'test_acc':>10}{'majority':>10}")
    for epoch in range(1, epochs + 1):
        perm = mx.array(rng.permutation(n))
        tot = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * 128:(i + 1) * 128]
            loss, grads = lg(model, x_tr[idx], y_tr[idx])
            if epoch == 1 and i == 0:
                flat = tree_flatten(grads)
                silent = [k for k, g in flat if mx.all(g == 0).item()]
                print(f"# [{name}] first-step gradient leaves exactly zero: "
                      f"{len(silent)}/{len(flat)} ({', '.join(silent[:3])}...) - "
                      f"zero-initialised layers, they get gradient from step 2 on")
            lr_now = sched(opt.step).item()
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        te_loss, te_acc = evaluate(model, x_te, y_te)
        print(f"{name:<6}{epoch:>6}{lr_now:>10.4f}{tot / steps_per_epoch:>10.4f}"
              f"{te_loss:>10.4f}{te_acc:>10.3f}{majority:>10.3f}")
    return te_acc


def main():
    mx.random.seed(5)
    rng = np.random.default_rng(5)

    home = make_pans(rng, 6000, 3, shift=0.0) + make_pans(rng, 1500, 3, shift=0.0)
    home = (home[0], home[1], home[2], home[3])
    model = PanNet(3)
    mx.eval(model.parameters())
    print(f"# stage A: home saltern, 3 crystallisation stages, chance CE = {math.log(3):.4f}")
    run_stage("A", model, home, epochs=10, lr=0.05, rng=rng)

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "trunk.safetensors")
        trunk = [(k, v) for k, v in tree_flatten(model.parameters())
                 if not k.startswith("head.")]
        mx.save_safetensors(path, dict(trunk))
        saved_stem = np.array(model.stem.weight)
        del model

        second = make_pans(rng, 2500, 4, shift=0.8) + make_pans(rng, 1500, 4, shift=0.8)
        model = PanNet(4)
        model.load_weights(path, strict=False)
        model.zero_head()
        mx.eval(model.parameters())
        gap = np.abs(np.array(model.stem.weight) - saved_stem).max()
        head_abs = mx.abs(model.head.weight).max().item()
        print(f"# stage B: trunk reloaded (max |stem diff| = {gap:.1e}), "
              f"new 4-way head zeroed after loading (max |w| = {head_abs:.1e}), "
              f"chance CE = {math.log(4):.4f}")
    run_stage("B", model, second, epochs=10, lr=0.02, rng=rng)


if __name__ == "__main__":
    main()
