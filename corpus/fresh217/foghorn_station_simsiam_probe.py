# Lighthouse fog-signal stations: which of 6 stations sounded a recorded blast pattern?
# Stage A: SimSiam self-supervised pretraining on unlabelled envelopes (stop-gradient branch).
# Stage B: encoder frozen, linear probe on a small labelled set; a probe on a random
#          (untrained) encoder is trained beside it as the reference.
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rs = np.random.default_rng(4)
T = 64
# station characters: lists of (blast length, silence after) in samples, one period
CHARACTERS = [
    [(6, 26)],
    [(3, 4), (3, 22)],
    [(10, 6), (2, 14)],
    [(2, 3), (2, 3), (2, 20)],
    [(14, 18)],
    [(4, 4), (8, 16)],
]


def envelope(k, n):
    out = np.zeros((n, T), np.float32)
    pat = []
    for on, off in CHARACTERS[k]:
        pat += [1.0] * on + [0.0] * off
    pat = np.array(pat * (T // len(pat) + 2), np.float32)
    for i in range(n):
        s = rs.integers(0, 32)
        e = pat[s:s + T].copy()
        e *= rs.uniform(0.5, 1.5)                           # distance / fog attenuation
        e = np.convolve(e, np.ones(3) / 3, mode="same")      # reverberation smear
        out[i] = e + rs.normal(0, 0.12, T)                   # surf and wind noise
    return out


def batch_unlabelled(n):
    ks = rs.integers(0, 6, n)
    return np.concatenate([envelope(k, 1) for k in ks])


def augment(x):
    n = x.shape[0]
    shift = rs.integers(-6, 7, n)
    y = np.stack([np.roll(r, s) for r, s in zip(x, shift)])
    y = y * rs.uniform(0.7, 1.3, (n, 1)) + rs.normal(0, 0.08, y.shape)
    m0 = rs.integers(0, T - 8, n)
    for i in range(n):                                      # drop-out a short gust
        y[i, m0[i]:m0[i] + rs.integers(0, 8)] = 0.0
    return y.astype(np.float32)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 16, 5, padding=2)
        self.c2 = nn.Conv1d(16, 32, 5, padding=2)
        self.fc = nn.Linear(64, 64)

    def __call__(self, x):
        h = nn.relu(self.c1(x[..., None]))
        h = nn.relu(self.c2(h))
        pooled = mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=1)   # shift-invariant
        return self.fc(pooled)


class SimSiam(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = Encoder()
        self.proj = nn.Sequential(nn.BatchNorm(64), nn.ReLU(), nn.Linear(64, 64), nn.BatchNorm(64, affine=False))
        self.pred = nn.Sequential(nn.Linear(64, 24), nn.BatchNorm(24), nn.ReLU(), nn.Linear(24, 64))

    def __call__(self, x1, x2):
        z1, z2 = self.proj(self.enc(x1)), self.proj(self.enc(x2))
        p1, p2 = self.pred(z1), self.pred(z2)
        return p1, p2, z1, z2


def neg_cos(p, z):
    z = mx.stop_gradient(z)
    p = p / (mx.linalg.norm(p, axis=1, keepdims=True) + 1e-6)
    z = z / (mx.linalg.norm(z, axis=1, keepdims=True) + 1e-6)
    return -(p * z).sum(axis=1).mean()


def simsiam_loss(m, x1, x2):
    p1, p2, z1, z2 = m(x1, x2)
    return 0.5 * neg_cos(p1, z2) + 0.5 * neg_cos(p2, z1)


mx.random.seed(4)
net = SimSiam()
mx.eval(net.parameters())
vg = nn.value_and_grad(net, simsiam_loss)
x0 = batch_unlabelled(64)
_, g = vg(net, mx.array(augment(x0)), mx.array(augment(x0)))
zero = [k for k, v in tree_flatten(g) if float(mx.abs(v).sum()) == 0.0]
print(f"[audit] {len(tree_flatten(g))} grad tensors, all-zero: {zero if zero else 'none'}")

opt = optim.SGD(learning_rate=0.03, momentum=0.9, weight_decay=1e-4)
EPOCHS, ITERS, BS = 4, 30, 96
t0 = time.time()
for ep in range(EPOCHS):
    run = 0.0
    for it in range(ITERS):
        xb = batch_unlabelled(BS)
        a, b = mx.array(augment(xb)), mx.array(augment(xb))
        loss, grads = vg(net, a, b)
        opt.update(net, grads)
        mx.eval(net.parameters(), opt.state, loss)
        run += float(loss)
        if (it + 1) % 10 == 0:
            done = int(20 * (it + 1) / ITERS)
            sys.stdout.write(f"pretrain {ep + 1}/{EPOCHS} |{'#' * done}{'.' * (20 - done)}| "
                             f"{it + 1}/{ITERS} [{time.time() - t0:5.1f}s, D={run / (it + 1):+.4f}]\n")
    net.eval()
    zs = net.proj(net.enc(mx.array(batch_unlabelled(256))))
    net.train()
    zs = zs / mx.linalg.norm(zs, axis=1, keepdims=True)
    print(f"  collapse check ep{ep + 1}: per-dim std of unit z = {float(zs.std(axis=0).mean()):.4f}"
          f" (1/sqrt(64) = {1 / 8:.4f})")

# ---- stage B: linear probes on frozen encoders -----------------------------------------
def labelled(n_per):
    xs, ys = [], []
    for k in range(6):
        xs.append(envelope(k, n_per))
        ys.append(np.full(n_per, k))
    return mx.array(np.concatenate(xs)), mx.array(np.concatenate(ys))


Xl, Yl = labelled(30)    # only 180 labelled recordings
Xt, Yt = labelled(120)


class Probe(nn.Module):
    def __init__(self, enc):
        super().__init__()
        self.enc = enc
        self.head = nn.Linear(64, 6)

    def __call__(self, x):
        return self.head(self.enc(x))


def ce(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


random_enc = Encoder()
mx.eval(random_enc.parameters())
probes = {"simsiam": Probe(net.enc), "random_init": Probe(random_enc)}
for p in probes.values():
    p.enc.freeze()
    p.enc.eval()
print("\nprobe  | epoch | ce(simsiam) | acc%(simsiam) | ce(random) | acc%(random)")
print("-------+-------+-------------+---------------+------------+-------------")
state = {}
for name, p in probes.items():
    before = [np.array(v) for _, v in tree_flatten(p.enc.parameters())]
    state[name] = (optim.Adam(learning_rate=1e-2), nn.value_and_grad(p, ce), before)
for ep in range(1, 21):
    row = {}
    for name, p in probes.items():
        o, f, _ = state[name]
        perm = mx.array(rs.permutation(Xl.shape[0]))
        for j in range(0, Xl.shape[0], 45):
            idx = perm[j:j + 45]
            l, gr = f(p, Xl[idx], Yl[idx])
            o.update(p, gr)
            mx.eval(p.parameters(), o.state, l)
        if ep % 5 == 0 or ep == 1:
            acc = float((mx.argmax(p(Xt), axis=1) == Yt).mean()) * 100
            row[name] = (float(ce(p, Xt, Yt)), acc)
    if ep % 5 == 0 or ep == 1:
        print(f"probe  | {ep:5d} | {row['simsiam'][0]:11.4f} | {row['simsiam'][1]:13.1f} | "
              f"{row['random_init'][0]:10.4f} | {row['random_init'][1]:11.1f}")
for name, p in probes.items():
    after = [np.array(v) for _, v in tree_flatten(p.enc.parameters())]
    drift = max(float(np.abs(a - b).max()) for a, b in zip(after, state[name][2]))
    print(f"[audit] {name}: frozen encoder max |delta| = {drift:.2e}, "
          f"trainable = {[k for k, _ in tree_flatten(p.trainable_parameters())]}")
print(f"total {time.time() - t0:.1f}s")
