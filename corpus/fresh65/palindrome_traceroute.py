# Palindrome detector for fixed-length 10-letter words over a 5-letter alphabet.
# Negatives are mostly "near misses" (a palindrome with one or two letters
# changed), so the net has to compare mirrored positions. Embedding + MLP,
# hand-written heavy-ball SGD on a plain parameter dict, compiled step.
# Progress is printed like traceroute: one "hop" per evaluation.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

L, A = 10, 5
rng = np.random.default_rng(11)


def palindromes(n):
    half = rng.integers(0, A, (n, L // 2))
    return np.concatenate([half, half[:, ::-1]], 1)


def make(n):
    pos = palindromes(n // 2)
    neg = palindromes(n - n // 2)
    for row in neg:
        k = rng.integers(1, 3)
        for j in rng.choice(L, k, replace=False):
            row[j] = (row[j] + rng.integers(1, A)) % A
        # a changed letter could (rarely) restore symmetry; re-break it then
        if (row == row[::-1]).all():
            row[0] = (row[-1] + 1) % A
    X = np.concatenate([pos, neg]).astype(np.int32)
    y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))]).astype(np.float32)
    p = rng.permutation(len(X))
    return X[p], y[p]


Xtr, ytr = make(16000)
Xva, yva = make(2000)
Xtr_m, ytr_m = mx.array(Xtr), mx.array(ytr)
Xva_m, yva_m = mx.array(Xva), mx.array(yva)

D, H = 8, 128
k = mx.random.key(3)
k1, k2, k3 = mx.random.split(k, 3)
params = {
    "emb": 0.5 * mx.random.normal((A, D), key=k1),
    "w1": mx.random.normal((L * D, H), key=k2) * (2.0 / (L * D)) ** 0.5,
    "b1": mx.zeros((H,)),
    "w2": mx.random.normal((H, 1), key=k3) * (1.0 / H) ** 0.5,
    "b2": mx.zeros((1,)),
}


def forward(p, x):
    e = p["emb"][x].reshape(x.shape[0], L * D)
    h = nn.relu(e @ p["w1"] + p["b1"])
    return (h @ p["w2"] + p["b2"]).squeeze(-1)


def loss_fn(p, x, y):
    return nn.losses.binary_cross_entropy(forward(p, x), y, with_logits=True, reduction="mean")


vg = mx.value_and_grad(loss_fn)
velocity = tree_map(mx.zeros_like, params)
LR, BETA = 0.05, 0.9


@mx.compile
def step(p, v, x, y):
    loss, g = vg(p, x, y)
    v = tree_map(lambda vi, gi: BETA * vi + gi, v, g)
    p = tree_map(lambda pi, vi: pi - LR * vi, p, v)
    return loss, p, v


def evaluate():
    logits = forward(params, Xva_m)
    ce = loss_fn(params, Xva_m, yva_m).item()
    pred = (logits > 0).astype(mx.float32)
    acc = (pred == yva_m).mean().item()
    near = mx.array(yva == 0)
    miss = ((pred == 1) & near).sum().item() / max(1, int(near.sum().item()))
    return ce, acc, miss


_, g0 = vg(params, Xtr_m[:64], ytr_m[:64])
flat = tree_flatten(g0)
zeros = [n for n, g in flat if float(mx.abs(g).max()) == 0.0]
print(f"traceroute to palindrome-net ({L} letters, alphabet {A}), 30 hops max, "
      f"{len(Xtr)} byte packets")
print(f" gradcheck: {len(flat)} leaves, zero-gradient leaves: {zeros if zeros else 'none'}")

BS, EPOCHS, EVERY = 64, 10, 250
t0 = time.time()
hop, it = 0, 0
ce, acc, miss = evaluate()
print(f" {hop:2d}  init  val_bce={ce:.4f}  val_acc={acc:.3f}  near_miss_fp={miss:.3f}  "
      f"{(time.time() - t0) * 1000:.1f} ms")
window = []
for epoch in range(EPOCHS):
    perm = mx.array(rng.permutation(len(Xtr)))
    for i in range(len(Xtr) // BS):
        idx = perm[i * BS:(i + 1) * BS]
        loss, params, velocity = step(params, velocity, Xtr_m[idx], ytr_m[idx])
        mx.eval(loss, params, velocity)
        window.append(loss.item())
        it += 1
        if it % EVERY == 0:
            hop += 1
            ce, acc, miss = evaluate()
            print(f" {hop:2d}  it{it:<5d} train_bce={np.mean(window):.4f}  val_bce={ce:.4f}  "
                  f"val_acc={acc:.3f}  near_miss_fp={miss:.3f}  {(time.time() - t0) * 1000:.1f} ms")
            window = []

ce, acc, miss = evaluate()
tests = ["abcdeedcba", "abcdeedcbb", "aabbccbbaa", "eeeeeeeeea"]
lut = {c: i for i, c in enumerate("abcde")}
xs = mx.array(np.array([[lut[c] for c in w] for w in tests], np.int32))
probs = mx.sigmoid(forward(params, xs)).tolist()
print(" ".join(f"{w}:{p:.2f}" for w, p in zip(tests, probs)))
print(f"destination reached after {it} iterations: val_acc={acc:.3f} val_bce={ce:.4f}")
