"""Herbarium label audit: classify specimens into 8 collecting expeditions from
16 label / ink / paper measurements. About 18% of the catalogue labels were
transcribed to another expedition, so the per-specimen prediction history of
every epoch is kept (probabilities + 32-d embeddings, for later plots) and used
at the end to rank specimens for a curator's re-check (forgetting events,
mean probability of the catalogued label).
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
K, D, N_TR, N_VA, NOISE = 8, 16, 6000, 2000, 0.18

centres = rng.normal(scale=1.15, size=(K, D))
mix = rng.normal(size=(D, D)) / np.sqrt(D)


def specimens(n):
    y = rng.integers(0, K, size=n)
    z = centres[y] + rng.normal(size=(n, D))
    x = np.tanh(z @ mix) + 0.05 * rng.normal(size=(n, D))
    return x.astype(np.float32), y


x_tr, y_true = specimens(N_TR)
x_va, y_va = specimens(N_VA)
flipped = rng.random(N_TR) < NOISE
y_cat = y_true.copy()
y_cat[flipped] = (y_true[flipped] + rng.integers(1, K, size=flipped.sum())) % K

mu, sd = x_tr.mean(0), x_tr.std(0)
X_TR = mx.array((x_tr - mu) / sd)
X_VA = mx.array((x_va - mu) / sd)
Y_CAT = mx.array(y_cat)


class SpecimenNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(D, 96), nn.ReLU(), nn.Linear(96, 32), nn.ReLU())
        self.head = nn.Linear(32, K)

    def __call__(self, x):
        e = self.trunk(x)
        return self.head(e), e


def loss_fn(model, x, y):
    logits, _ = model(x)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


mx.random.seed(5)
model = SpecimenNet()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.05, momentum=0.9, weight_decay=5e-4)
vg = nn.value_and_grad(model, loss_fn)
EPOCHS, BATCH = 30, 128
LR_AT = {1: 0.05, 20: 0.005, 26: 0.0005}

prob_hist, emb_hist, correct_hist = [], [], []
print(f"catalogue: {N_TR} specimens ({flipped.sum()} with a mis-transcribed expedition, {100 * flipped.mean():.1f}%), "
      f"check set {N_VA} (labels verified)")
print(f"majority-class check accuracy {100 * np.bincount(y_va).max() / N_VA:.1f}%  chance {100 / K:.1f}%")
print()
print("| epoch | lr | train loss | catalogue acc | check acc | history epochs | history MB | s |")
print("|---|---|---|---|---|---|---|---|")
t0 = time.time()
for epoch in range(1, EPOCHS + 1):
    if epoch in LR_AT:
        lr_now = LR_AT[epoch]
        opt.learning_rate = lr_now
    perm = rng.permutation(N_TR)
    losses = []
    for i in range(0, N_TR - BATCH + 1, BATCH):
        idx = mx.array(perm[i:i + BATCH])
        loss, grads = vg(model, X_TR[idx], Y_CAT[idx])
        opt.update(model, grads)
        mx.eval(loss, model.parameters(), opt.state)
        losses.append(loss.item())
    logits, emb = model(X_TR)
    probs = mx.softmax(logits, axis=-1)
    mx.eval(probs, emb)
    p = np.array(probs)
    prob_hist.append(p)
    emb_hist.append(np.array(emb))
    correct_hist.append(p.argmax(1) == y_cat)
    va_logits, _ = model(X_VA)
    va_acc = 100 * float(np.mean(np.array(mx.argmax(va_logits, axis=1)) == y_va))
    mb = sum(a.nbytes for a in prob_hist + emb_hist + correct_hist) / 1e6
    if epoch <= 3 or epoch % 3 == 0:
        print(f"| {epoch} | {lr_now:.4f} "
              f"| {np.mean(losses):.4f} | {100 * correct_hist[-1].mean():.1f}% | {va_acc:.1f}% "
              f"| {len(prob_hist)} | {mb:.1f} | {time.time() - t0:.1f} |")

print()
print("-- label audit from the prediction history")
C = np.stack(correct_hist)
forget = np.sum(C[:-1] & ~C[1:], axis=0)
P = np.stack(prob_hist)
p_label = P[:, np.arange(N_TR), y_cat].mean(axis=0)
print(f"history arrays: probs {P.shape}, embeddings {np.stack(emb_hist).shape}")


def auroc(score, positive):
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    npos = positive.sum()
    return (ranks[positive].sum() - npos * (npos + 1) / 2) / (npos * (len(score) - npos))


print(f"specimens never learned: {int(np.sum(C.sum(0) == 0))}  unforgettable (always right): {int(np.sum(C.all(0)))}")
print(f"mean forgetting events: mis-transcribed {forget[flipped].mean():.2f}  clean {forget[~flipped].mean():.2f}")
print(f"AUROC for finding mis-transcribed labels: forgetting events {auroc(forget.astype(float), flipped):.3f}, "
      f"1 - mean catalogued-label prob {auroc(1 - p_label, flipped):.3f}  (chance 0.500)")
top = np.argsort(p_label)[: int(flipped.sum())]
print(f"re-check list of {len(top)}: precision {100 * flipped[top].mean():.1f}%  (base rate {100 * flipped.mean():.1f}%)")
print(f"done in {time.time() - t0:.1f}s")
