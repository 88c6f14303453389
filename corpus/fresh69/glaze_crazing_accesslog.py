"""Kiln glaze crazing risk: will a glaze craze on a given clay body after firing?

Synthetic data: glaze oxide recipes (Dirichlet unity molecular fractions), an additive
thermal-expansion estimate, one of four clay bodies with its own expansion, firing cone.
Crazing when glaze expansion exceeds body expansion by a margin (plus noise).
Step-based training with early stopping on validation BCE; log written as an
Apache combined access log.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(7)
OXIDES = ["SiO2", "Al2O3", "B2O3", "Na2O", "K2O", "CaO", "MgO", "ZnO"]
COEF = np.array([0.035, 0.052, -0.065, 0.387, 0.331, 0.148, 0.045, 0.094])  # per mol-%, x1e-6/K scale
BODY_EXP = np.array([5.6, 6.4, 7.1, 5.0])  # stoneware, earthenware-ish, porcelain-ish, flameware


def make(n):
    alpha = np.array([9.0, 1.6, 1.0, 0.7, 0.7, 1.4, 0.6, 0.5])
    comp = rng.dirichlet(alpha, size=n)
    body = rng.integers(0, 4, size=n)
    cone = rng.uniform(4.0, 11.0, size=n)
    glaze_exp = (comp * 100.0) @ COEF * 0.85 + 0.05 * (cone - 7.5)
    margin = glaze_exp - BODY_EXP[body] + rng.normal(0, 0.35, size=n)
    y = (margin > 0.0).astype(np.float32)
    feats = np.concatenate([comp, ((cone - 7.5) / 2.0)[:, None]], axis=1).astype(np.float32)
    return feats, body.astype(np.int32), y


Xtr, Btr, Ytr = make(8000)
Xva, Bva, Yva = make(2000)
mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr, Btr, Ytr = mx.array(Xtr), mx.array(Btr), mx.array(Ytr)
Xva, Bva, Yva_np = mx.array(Xva), mx.array(Bva), Yva


class CrazeNet(nn.Module):
    def __init__(self, n_feat=9, n_body=4, d_body=6, hidden=48):
        super().__init__()
        self.body = nn.Embedding(n_body, d_body)
        self.fc1 = nn.Linear(n_feat + d_body, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x, b):
        h = mx.concatenate([x, self.body(b)], axis=-1)
        h = nn.silu(self.fc1(h))
        h = nn.silu(self.fc2(h)) + h[..., : self.fc2.weight.shape[0]]
        return self.out(h).squeeze(-1)


def bce(model, x, b, y):
    return nn.losses.binary_cross_entropy(model(x, b), y, with_logits=True, reduction="mean")


def auc(scores, labels):
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    pos = labels == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def evaluate(model):
    logits = model(Xva, Bva)
    loss = nn.losses.binary_cross_entropy(logits, mx.array(Yva_np), with_logits=True, reduction="mean")
    mx.eval(logits, loss)
    s = np.array(logits)
    acc = float(((s > 0) == (Yva_np == 1)).mean())
    return loss.item(), acc, auc(s, Yva_np)


mx.random.seed(3)
model = CrazeNet()
mx.eval(model.parameters())
opt = optim.Adagrad(learning_rate=0.05)
loss_and_grad = nn.value_and_grad(model, bce)

T0 = time.time()


def log(path, status, nbytes):
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
    ms = int((time.time() - T0) * 1000)
    print(f'10.0.0.7 - kiln [{stamp}] "GET {path} HTTP/1.1" {status} {nbytes} "-" "mlx-kiln/0.3 (t_ms={ms})"')


# first-batch gradient audit
idx0 = mx.array(rng.permutation(8000)[:128])
l0, g0 = loss_and_grad(model, Xtr[idx0], Btr[idx0], Ytr[idx0])
flat = tree_flatten(g0)
zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
log(f"/audit?leaves={len(flat)}&zero_leaves={len(zero)}&loss0={l0.item():.4f}", 200 if not zero else 500, 0)
prior = float(Yva_np.mean())
base = -(prior * math.log(prior) + (1 - prior) * math.log(1 - prior))
log(f"/baseline?craze_share={prior:.3f}&prior_bce={base:.4f}", 200, 0)

BATCH, MAX_STEPS, EVAL_EVERY, PATIENCE = 128, 4000, 200, 4
best = (float("inf"), None, 0)
bad = 0
perm, ptr = rng.permutation(8000), 0
window = []
for step in range(1, MAX_STEPS + 1):
    if ptr + BATCH > 8000:
        perm, ptr = rng.permutation(8000), 0
    idx = mx.array(perm[ptr : ptr + BATCH])
    ptr += BATCH
    loss, grads = loss_and_grad(model, Xtr[idx], Btr[idx], Ytr[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    if step % EVAL_EVERY == 0:
        vl, va, vauc = evaluate(model)
        tr = sum(window) / len(window)
        window = []
        improved = vl < best[0] - 1e-4
        if improved:
            best = (vl, tree_map(lambda p: mx.array(p), model.parameters()), step)
            bad = 0
        else:
            bad += 1
        log(f"/step/{step}?train_bce={tr:.4f}&val_bce={vl:.4f}&val_acc={va:.4f}&val_auc={vauc:.4f}",
            200 if improved else 304, 0)
        if bad >= PATIENCE:
            log(f"/early-stop?at={step}&best_step={best[2]}", 410, 0)
            break

model.update(best[1])
vl, va, vauc = evaluate(model)
log(f"/final?restored_step={best[2]}&val_bce={vl:.4f}&val_acc={va:.4f}&val_auc={vauc:.4f}", 200, 0)
