"""Continual learning across two glacier stations with Elastic Weight Consolidation.

Station A (trained first) and station B (trained second) relate daily melt (mm w.e.)
to the same 6 weather features through different laws. After A we estimate a
diagonal Fisher from per-example gradients and keep the net close to A's weights
on the directions A cares about while it learns B. Station-A error rises a little
during phase B by design (the price of learning B); plain fine-tuning is shown as
a reference run from the same start.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(7)
N_TR, N_TE = 3000, 800


def make_station(law, n):
    x = rng.normal(size=(n, 6)).astype(np.float32)
    t, sw, wind, rh, cloud, alb = x.T
    if law == "A":
        y = 1.4 * np.maximum(t + 0.5, 0) + 0.6 * sw * (1 - 0.3 * alb) + 0.2 * wind
    else:
        y = 0.9 * np.maximum(t + 1.0, 0) + 0.8 * sw - 0.5 * cloud * sw + 0.3 * rh * wind
    y = y + 0.15 * rng.normal(size=n)
    return mx.array(x), mx.array(y.astype(np.float32)[:, None])


A_tr, A_te = make_station("A", N_TR), make_station("A", N_TE)
B_tr, B_te = make_station("B", N_TR), make_station("B", N_TE)


class MeltNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))


def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()


def ewc_loss(model, x, y, anchor, fisher, lam):
    base = mse(model, x, y)
    pen = 0.0
    for (k, p), (_, a), (_, f) in zip(tree_flatten(model.trainable_parameters()),
                                      tree_flatten(anchor), tree_flatten(fisher)):
        pen = pen + (f * (p - a) ** 2).sum()
    return base + 0.5 * lam * pen


class MomentumSGD:
    """Hand-written heavy-ball SGD over the parameter tree."""

    def __init__(self, lr, mu=0.9):
        self.lr, self.mu, self.v = lr, mu, None

    def step(self, model, grads):
        if self.v is None:
            self.v = tree_map(mx.zeros_like, grads)
        self.v = tree_map(lambda v, g: self.mu * v + g, self.v, grads)
        model.update(tree_map(lambda p, v: p - self.lr * v, model.trainable_parameters(), self.v))
        mx.eval(model.parameters(), self.v)


def run_phase(model, data, epochs, lr, loss_fn, tag, check_grads=False):
    x, y = data
    opt = MomentumSGD(lr)
    vg = nn.value_and_grad(model, loss_fn)
    n = x.shape[0]
    bs = 100
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(n))
        tot = 0.0
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            loss, g = vg(model, x[idx], y[idx])
            if check_grads and ep == 1 and i == 0:
                flat = tree_flatten(g)
                zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
                print(f"  [{tag}] first-step grad check: {len(flat)} leaves, zero-grad leaves: {zero or 'none'}")
            opt.step(model, g)
            tot += loss.item() * idx.shape[0]
        if ep % 5 == 0 or ep == 1:
            ea = mse(model, *A_te).item()
            eb = mse(model, *B_te).item()
            print(f"  [{tag}] epoch {ep:2d}  train_obj {tot / n:7.4f}   test_mse A {ea:7.4f}   B {eb:7.4f}")


def fisher_diag(model, x, y, n_samples=400):
    # empirical Fisher: mean of squared per-example gradients (Gaussian likelihood)
    g_one = nn.value_and_grad(model, mse)
    acc = tree_map(mx.zeros_like, model.trainable_parameters())
    for i in range(n_samples):
        _, g = g_one(model, x[i:i + 1], y[i:i + 1])
        acc = tree_map(lambda a, b: a + b * b, acc, g)
        if i % 50 == 49:
            mx.eval(acc)
    acc = tree_map(lambda a: a / n_samples, acc)
    mx.eval(acc)
    return acc


t0 = time.time()
mx.random.seed(3)
net = MeltNet()
mx.eval(net.parameters())
print("phase A: station A only")
run_phase(net, A_tr, 20, 0.01, mse, "A", check_grads=True)
anchor = tree_map(lambda p: mx.array(p), net.trainable_parameters())
fisher = fisher_diag(net, *A_tr)
fl = tree_flatten(fisher)
fmax = max(float(v.max()) for _, v in fl)
print(f"fisher estimated on 400 examples, max entry {fmax:.3g}")
fisher = tree_map(lambda f: f / fmax, fisher)  # normalise so lam is on a readable scale
mx.eval(fisher)
start_weights = list(tree_flatten(net.parameters()))

print("phase B reference: plain fine-tune on B")
ref = MeltNet()
ref.load_weights(start_weights)
run_phase(ref, B_tr, 20, 0.01, mse, "B-plain")

print("phase B: EWC fine-tune on B (lambda 200)")
run_phase(net, B_tr, 20, 0.01,
          lambda m, x, y: ewc_loss(m, x, y, anchor, fisher, 200.0), "B-ewc", check_grads=True)

fa_ref, fb_ref = mse(ref, *A_te).item(), mse(ref, *B_te).item()
fa, fb = mse(net, *A_te).item(), mse(net, *B_te).item()
print("summary (test mse, lower is better)")
print(f"  plain fine-tune : A {fa_ref:.4f}  B {fb_ref:.4f}")
print(f"  EWC             : A {fa:.4f}  B {fb:.4f}")
print(f"done in {time.time() - t0:.1f}s")
