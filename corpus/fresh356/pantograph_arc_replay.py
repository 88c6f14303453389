"""Tram pantograph arc monitor: 3-way contact state (clean / arcing / ice film)
from 12 roof-sensor channels. "Free" adversarial training (Shafahi et al. 2019):
every minibatch is replayed R times, one backward pass gives both the weight
gradient and the input gradient, and the input perturbation is carried over
between replays and between minibatches. A plain model is trained first as a
reference for the robustness numbers."""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
N_TRAIN, N_TEST, D, C = 6000, 1500, 12, 3
EPS = 0.5          # L-inf radius in standardised sensor units
REPLAYS = 4
OUTER_EPOCHS = 10
BATCH = 100


def make_data(n):
    y = rng.integers(0, C, size=n)
    base = np.array([[1.2, -0.4, 0.3, 0.0, 0.8, -0.9, 0.2, 0.5, -0.3, 0.0, 0.6, -0.2],
                     [-0.8, 0.9, -0.5, 0.7, -0.2, 0.4, -0.6, 0.1, 0.8, -0.5, 0.0, 0.3],
                     [0.0, -0.6, 0.9, -0.8, -0.7, 0.3, 0.7, -0.6, 0.0, 0.9, -0.6, 0.1]])
    x = base[y] + rng.normal(0.0, 0.9, size=(n, D))
    # a nonlinear channel pair: arc flicker shows up as a product term
    x[:, 10] += 0.6 * np.tanh(x[:, 0] * x[:, 1])
    return x.astype(np.float32), y.astype(np.int32)


xtr, ytr = make_data(N_TRAIN)
xte, yte = make_data(N_TEST)
mu, sd = xtr.mean(0), xtr.std(0)
xtr = (xtr - mu) / sd
xte = (xte - mu) / sd
Xtr, Ytr, Xte, Yte = map(mx.array, (xtr, ytr, xte, yte))


class ArcNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, C)

    def __call__(self, x):
        return self.out(nn.relu(self.l2(nn.relu(self.l1(x)))))


def accuracy(model, x, y):
    return (mx.argmax(model(x), axis=1) == y).astype(mx.float32).mean().item()


def pgd(model, x, y, eps, steps=10):
    alpha = 2.5 * eps / steps
    d = mx.random.uniform(-eps, eps, x.shape)

    def adv_loss(dd):
        return nn.losses.cross_entropy(model(x + dd), y, reduction="mean")

    g = mx.grad(adv_loss)
    for _ in range(steps):
        d = mx.clip(d + alpha * mx.sign(g(d)), -eps, eps)
    return mx.stop_gradient(x + d)


def robust_accuracy(model, x, y, eps):
    return accuracy(model, pgd(model, x, y, eps), y)


# ---------------- stage 0: plain reference model ----------------
mx.random.seed(0)
ref = ArcNet()
ref_opt = optim.SGD(learning_rate=0.05, momentum=0.9)
ref_step = nn.value_and_grad(ref, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))
for ep in range(6):
    perm = mx.array(rng.permutation(N_TRAIN))
    for i in range(0, N_TRAIN, BATCH):
        idx = perm[i:i + BATCH]
        loss, grads = ref_step(ref, Xtr[idx], Ytr[idx])
        ref_opt.update(ref, grads)
        mx.eval(ref.parameters(), ref_opt.state)
ref_clean = accuracy(ref, Xte, Yte)
ref_rob = robust_accuracy(ref, Xte, Yte, EPS)
majority = float(np.bincount(yte).max() / len(yte))
print(f"reference (plain SGD)   clean_acc {ref_clean:.3f}  pgd10_acc {ref_rob:.3f}  majority_class {majority:.3f}")

# ---------------- stage 1: free adversarial training ----------------
mx.random.seed(1)
model = ArcNet()
opt = optim.SGD(learning_rate=0.02, momentum=0.9)


def free_loss(params, delta, x, y):
    model.update(params)
    return nn.losses.cross_entropy(model(x + delta), y, reduction="mean")


loss_and_both_grads = mx.value_and_grad(free_loss, argnums=(0, 1))
delta = mx.zeros((BATCH, D))
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"free-AT: eps {EPS}  replays {REPLAYS}  outer epochs {OUTER_EPOCHS}  params {n_params}")

t0 = time.time()
for ep in range(1, OUTER_EPOCHS + 1):
    perm = mx.array(rng.permutation(N_TRAIN))
    replay_losses = np.zeros(REPLAYS)
    nb = 0
    for i in range(0, N_TRAIN, BATCH):
        idx = perm[i:i + BATCH]
        xb, yb = Xtr[idx], Ytr[idx]
        for r in range(REPLAYS):
            params = model.trainable_parameters()
            loss, (gp, gd) = loss_and_both_grads(params, delta, xb, yb)
            model.update(params)
            opt.update(model, gp)
            delta = mx.clip(delta + EPS * mx.sign(gd), -EPS, EPS)
            mx.eval(model.parameters(), opt.state, delta, loss)
            replay_losses[r] += loss.item()
        nb += 1
    replay_losses /= nb
    clean = accuracy(model, Xte, Yte)
    rob = robust_accuracy(model, Xte, Yte, EPS)
    per_replay = " ".join(f"{v:.3f}" for v in replay_losses)
    print(f"epoch {ep}  adv_loss by replay [{per_replay}]  clean_acc {clean:.3f}  pgd10_acc {rob:.3f}  ({time.time() - t0:.1f}s)")

final_clean = accuracy(model, Xte, Yte)
final_rob = robust_accuracy(model, Xte, Yte, EPS)
print(f"final  free-AT clean_acc {final_clean:.3f} pgd10_acc {final_rob:.3f} | reference clean_acc {ref_clean:.3f} pgd10_acc {ref_rob:.3f}")
