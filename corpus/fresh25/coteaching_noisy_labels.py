# Co-teaching (Han et al. 2018): two peer networks trained on 40%-noisy labels.
# Each net picks its small-loss samples of the batch and its PEER is updated on them.
import csv
import sys

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(5)
mx.random.seed(5)
D, K, N_TRAIN, N_TEST = 20, 4, 3000, 2000
NOISE, T_K, EPOCHS, BS = 0.4, 10, 30, 128

centers = rng.normal(size=(K, D)) * 0.5


def sample(n):
    y = rng.integers(0, K, n)
    x = centers[y] + rng.normal(size=(n, D))
    return x.astype(np.float32), y


xtr, ytr_clean = sample(N_TRAIN)
xte, yte = sample(N_TEST)
flip = rng.random(N_TRAIN) < NOISE
ytr = ytr_clean.copy()
ytr[flip] = (ytr_clean[flip] + rng.integers(1, K, flip.sum())) % K   # symmetric noise
Xtr, Ytr, Xte, Yte = mx.array(xtr), mx.array(ytr), mx.array(xte), mx.array(yte)
is_clean = mx.array(~flip)


def mlp():
    return nn.Sequential(nn.Linear(D, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, K))


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


net1, net2 = mlp(), mlp()
opt1, opt2 = optim.Adam(learning_rate=5e-4), optim.Adam(learning_rate=5e-4)
vg1, vg2 = nn.value_and_grad(net1, ce), nn.value_and_grad(net2, ce)


def acc(model, x, y):
    return (mx.argmax(model(x), axis=1) == y).mean().item()


w = csv.writer(sys.stdout)
w.writerow(["epoch", "remember", "sel_loss_1", "sel_loss_2", "label_precision",
            "noisy_train_acc_1", "clean_test_acc_1", "clean_test_acc_2"])
for epoch in range(1, EPOCHS + 1):
    remember = 1.0 - NOISE * min(epoch / T_K, 1.0)
    perm = mx.array(rng.permutation(N_TRAIN))
    l1s, l2s, precs = [], [], []
    for i in range(0, N_TRAIN, BS):
        idx = perm[i:i + BS]
        x, y = Xtr[idx], Ytr[idx]
        n_keep = max(1, int(remember * idx.shape[0]))
        loss1 = nn.losses.cross_entropy(net1(x), y, reduction="none")
        loss2 = nn.losses.cross_entropy(net2(x), y, reduction="none")
        keep1 = mx.argsort(loss1)[:n_keep]      # net1's small-loss picks
        keep2 = mx.argsort(loss2)[:n_keep]      # net2's small-loss picks
        # cross update: each net learns from the samples its peer trusts
        l1, g1 = vg1(net1, x[keep2], y[keep2])
        l2, g2 = vg2(net2, x[keep1], y[keep1])
        opt1.update(net1, g1)
        opt2.update(net2, g2)
        prec = is_clean[idx][keep1].astype(mx.float32).mean()
        mx.eval(net1.parameters(), net2.parameters(), opt1.state, opt2.state, l1, l2, prec)
        l1s.append(l1.item()); l2s.append(l2.item()); precs.append(prec.item())
    w.writerow([epoch, f"{remember:.2f}", f"{np.mean(l1s):.4f}", f"{np.mean(l2s):.4f}",
                f"{np.mean(precs):.3f}", f"{acc(net1, Xtr, Ytr):.3f}",
                f"{acc(net1, Xte, Yte):.3f}", f"{acc(net2, Xte, Yte):.3f}"])
    sys.stdout.flush()
