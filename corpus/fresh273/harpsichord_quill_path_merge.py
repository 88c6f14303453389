"""Harpsichord quill voicing: 3-way pluck class (soft / even / harsh) from 8
synthetic jack measurements. Weight-space experiment:

  parent   - trained for 240 steps, then frozen as a checkpoint
  child A  - continues from the parent with its own minibatch order
  child B  - continues from the parent with another minibatch order
  stranger - same recipe from a different random init (never saw the parent)

Every network is evaluated along the straight line between two weight trees
(theta(a) = (1-a) * theta_1 + a * theta_2, built with tree_map and loaded into a
probe module). The stranger path crosses a loss barrier in the middle on
purpose; the two children sit in one basin, so their midpoint is kept as the
merged model and compared with both children and with a majority-class guess."""

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_map

ALPHAS = [i / 10 for i in range(11)]


def make_data(n, rng):
    x = rng.normal(0, 1, (n, 8)).astype(np.float32)
    # quill length, thickness, bevel, tongue spring, damper, register, humidity, plectrum wear
    score = 1.3 * x[:, 1] - 0.9 * x[:, 0] + 0.7 * x[:, 2] * x[:, 3] + 0.5 * np.sin(2 * x[:, 6]) - 0.4 * x[:, 7] ** 2
    score += rng.normal(0, 0.45, n)
    y = np.digitize(score, [-0.8, 0.6]).astype(np.int32)
    return x, y


class QuillNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 3)

    def __call__(self, x):
        return self.out(nn.relu(self.l2(nn.relu(self.l1(x)))))


def ce(model, x, y):
    return mx.mean(nn.losses.cross_entropy(model(x), y))


def acc(model, x, y):
    return mx.mean(mx.argmax(model(x), axis=-1) == y).item()


def train(model, steps, data, seed, lr_sched, step0=0):
    xtr, ytr = data
    rng = np.random.default_rng(seed)
    opt = optim.Adam(learning_rate=lr_sched)
    loss_grad = nn.value_and_grad(model, ce)
    for s in range(steps):
        idx = mx.array(rng.integers(0, xtr.shape[0], 64))
        loss, grads = loss_grad(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
    return loss.item()


def path(theta1, theta2, probe, x, y):
    out = []
    for a in ALPHAS:
        probe.update(tree_map(lambda p, q: (1 - a) * p + a * q, theta1, theta2))
        out.append(ce(probe, x, y).item())
    barrier = max(out) - 0.5 * (out[0] + out[-1])
    return out, barrier


def main():
    rng = np.random.default_rng(21)
    xtr, ytr = make_data(5000, rng)
    xva, yva = make_data(2000, rng)
    data = (mx.array(xtr), mx.array(ytr))
    xva, yva = mx.array(xva), mx.array(yva)
    counts = np.bincount(ytr, minlength=3)
    majority = float(np.mean(np.array(yva) == counts.argmax()))
    print(f"class shares train {np.round(counts / counts.sum(), 3).tolist()}; majority-class valid acc {majority:.3f}")

    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 60), optim.cosine_decay(3e-3, 900, 1e-4)], [60]
    )
    mx.random.seed(1)
    parent = QuillNet()
    mx.eval(parent.parameters())
    last = train(parent, 240, data, seed=100, lr_sched=sched)
    parent_theta = tree_map(lambda p: p, parent.parameters())
    print(f"parent: 240 steps, last batch ce {last:.3f}, valid ce {ce(parent, xva, yva):.3f}, acc {acc(parent, xva, yva):.3f}")

    children = {}
    for name, seed in (("A", 201), ("B", 202)):
        child = QuillNet()
        child.update(tree_map(lambda p: p, parent_theta))
        last = train(child, 700, data, seed=seed, lr_sched=3e-3)
        children[name] = child
        print(f"child {name}: +700 steps, last batch ce {last:.3f}, valid ce {ce(child, xva, yva):.3f}, acc {acc(child, xva, yva):.3f}")

    mx.random.seed(99)
    stranger = QuillNet()
    mx.eval(stranger.parameters())
    train(stranger, 240, data, seed=300, lr_sched=sched)
    last = train(stranger, 700, data, seed=301, lr_sched=3e-3)
    print(f"stranger: 940 steps from its own init, last batch ce {last:.3f}, valid ce {ce(stranger, xva, yva):.3f}")

    probe = QuillNet()
    for label, t1, t2 in (
        ("child A -> child B", children["A"].parameters(), children["B"].parameters()),
        ("child A -> stranger", children["A"].parameters(), stranger.parameters()),
    ):
        losses, barrier = path(t1, t2, probe, xva, yva)
        print(f"{label:20s} valid ce along path: " + " ".join(f"{v:.3f}" for v in losses) + f" | barrier {barrier:+.3f}")

    probe.update(tree_map(lambda p, q: 0.5 * p + 0.5 * q, children["A"].parameters(), children["B"].parameters()))
    print(
        f"merged midpoint A|B: valid ce {ce(probe, xva, yva):.3f} acc {acc(probe, xva, yva):.3f} "
        f"(A {acc(children['A'], xva, yva):.3f}, B {acc(children['B'], xva, yva):.3f}, majority {majority:.3f})"
    )


if __name__ == "__main__":
    main()
