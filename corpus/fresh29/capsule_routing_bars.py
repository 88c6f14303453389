"""Tiny capsule network (Sabour et al. 2017 style): primary capsules from a
linear layer, 3 iterations of routing-by-agreement to 4 class capsules, margin
loss on capsule lengths. Data: 8x8 noisy images of 4 bar orientations at
random offsets. One line per epoch with a text gauge of the true-class length."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(3)
mx.random.seed(3)
S, NCLS = 8, 4


def make_image(c):
    img = np.zeros((S, S), np.float32)
    o = rng.integers(1, S - 1)
    L = rng.integers(4, 7)
    st = rng.integers(0, S - L + 1)
    for t in range(st, st + L):
        if c == 0: img[o, t] = 1
        elif c == 1: img[t, o] = 1
        elif c == 2: img[t, t] = 1
        else: img[t, S - 1 - t] = 1
    img += 0.35 * rng.standard_normal((S, S)).astype(np.float32)
    return img.reshape(-1)


def make_set(n):
    y = rng.integers(0, NCLS, n)
    return np.stack([make_image(c) for c in y]), y


Xtr, ytr = make_set(3000)
Xva, yva = make_set(800)


def squash(s, axis=-1):
    n2 = (s * s).sum(axis=axis, keepdims=True)
    return (n2 / (1 + n2)) * s / mx.sqrt(n2 + 1e-8)


class CapsNet(nn.Module):
    def __init__(self, n_prim=16, d_prim=8, d_out=12, iters=3):
        super().__init__()
        self.n_prim, self.d_prim, self.iters = n_prim, d_prim, iters
        self.primary = nn.Linear(S * S, n_prim * d_prim)
        self.W = 0.05 * mx.random.normal((n_prim, NCLS, d_out, d_prim))

    def __call__(self, x):
        B = x.shape[0]
        u = squash(nn.relu(self.primary(x)).reshape(B, self.n_prim, self.d_prim) - 0.1)
        u_hat = mx.einsum("ijdk,bik->bijd", self.W, u)          # B, n_prim, NCLS, d_out
        b = mx.zeros((B, self.n_prim, NCLS))
        for r in range(self.iters):
            c = mx.softmax(b, axis=2)
            v = squash((c[..., None] * u_hat).sum(axis=1))        # B, NCLS, d_out
            if r < self.iters - 1:
                b = b + (u_hat * v[:, None]).sum(-1)
        return mx.sqrt((v * v).sum(-1) + 1e-9)                    # capsule lengths


def margin_loss(model, x, y):
    L = model(x)
    T = mx.eye(NCLS)[y]
    l = T * mx.maximum(0, 0.9 - L) ** 2 + 0.5 * (1 - T) * mx.maximum(0, L - 0.1) ** 2
    return l.sum(-1).mean()


model = CapsNet()
opt = optim.Adam(learning_rate=2e-3)
vg = nn.value_and_grad(model, margin_loss)
BS, EPOCHS = 50, 14
t0 = time.time()
print(f"train={len(ytr)} val={len(yva)} classes={NCLS}")
for ep in range(1, EPOCHS + 1):
    perm = rng.permutation(len(ytr))
    tot = 0.0
    for i in range(0, len(perm), BS):
        idx = perm[i:i + BS]
        loss, g = vg(model, mx.array(Xtr[idx]), mx.array(ytr[idx]))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item() * len(idx)
    Lv = model(mx.array(Xva))
    pred = np.array(mx.argmax(Lv, axis=1))
    Lnp = np.array(Lv)
    acc = (pred == yva).mean()
    vt = Lnp[np.arange(len(yva)), yva].mean()
    vo = (Lnp.sum(1) - Lnp[np.arange(len(yva)), yva]).mean() / (NCLS - 1)
    gauge = "#" * int(round(vt * 20)) + "." * (20 - int(round(vt * 20)))
    print(f"ep {ep:02d}  margin {tot/len(perm):.4f}  val_acc {100*acc:5.1f}%  |v_true| {vt:.3f}  |v_other| {vo:.3f}  [{gauge}]  {time.time()-t0:4.1f}s")
