import os
import tempfile
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)
t0 = time.time()

# ---------- synthetic task: 8 classes from 24-d inputs ----------
C, DIN, H = 8, 24, 32
centers = rng.normal(size=(C, DIN)).astype(np.float32) * 1.4


def make(n):
    y = rng.integers(0, C, size=n)
    x = centers[y] + rng.normal(size=(n, DIN)).astype(np.float32)
    return mx.array(x), mx.array(y)


Xtr, Ytr = make(6000)
Xva, Yva = make(1500)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(DIN, H)
        self.l2 = nn.Linear(H, C)

    def hidden(self, x):
        return nn.relu(self.l1(x))

    def __call__(self, x, patch=None):
        h = self.hidden(x)
        if patch is not None:
            h = patch(h)
        return self.l2(h)


def ce(logits, y):
    return float(mx.mean(nn.losses.cross_entropy(logits, y)))


def acc(logits, y):
    return float(mx.mean(mx.argmax(logits, axis=1) == y))


print("[stage.classifier]")
net = Net()
sgd = optim.SGD(learning_rate=0.05, momentum=0.9)
cls_grad = nn.value_and_grad(net, lambda m, x, y: mx.mean(nn.losses.cross_entropy(m(x), y)))
for ep in range(1, 9):
    perm = rng.permutation(6000)
    for i in range(0, 6000, 100):
        idx = mx.array(perm[i:i + 100])
        loss, g = cls_grad(net, Xtr[idx], Ytr[idx])
        sgd.update(net, g)
        mx.eval(net.parameters(), sgd.state)
    lv = net(Xva)
    print(f"epoch_{ep} = train_ce={float(loss):.4f} val_ce={ce(lv, Yva):.4f} val_acc={acc(lv, Yva):.3f}")
net.freeze()
base_logits = net(Xva)
base_ce = ce(base_logits, Yva)

# ---------- stage 2: SAE on hidden activations ----------
Atr = net.hidden(Xtr)
Ava = net.hidden(Xva)
mx.eval(Atr, Ava)
M = 96


class SAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(H, M)
        w = mx.random.normal((H, M))
        self.W_dec = w / mx.linalg.norm(w, axis=0, keepdims=True)
        self.b_dec = mx.zeros((H,))

    def codes(self, a):
        return nn.relu(self.enc(a - self.b_dec))

    def __call__(self, a):
        return self.codes(a) @ self.W_dec.T + self.b_dec


def sae_loss(s, a, l1):
    f = s.codes(a)
    r = f @ s.W_dec.T + s.b_dec
    return mx.mean(mx.sum((a - r) ** 2, axis=1)) + l1 * mx.mean(mx.sum(f, axis=1))


def build(seed_params=None):
    s = SAE()
    if seed_params is not None:
        s.update(seed_params)
    return s


def schedule(step):
    return 3e-4 if step <= 1200 else 1e-4


L1 = 0.3
STEPS, CKPT = 2000, 1000
sae = build()
sae.b_dec = mx.mean(Atr, axis=0)
opt = optim.Lion(learning_rate=3e-4, weight_decay=0.0)
g_fn = nn.value_and_grad(sae, sae_loss)
var = float(mx.mean(mx.sum((Ava - mx.mean(Ava, axis=0)) ** 2, axis=1)))
ckdir = tempfile.mkdtemp(prefix="sae_ck_")


def report(step, loss):
    r = sae(Ava)
    fvu = float(mx.mean(mx.sum((Ava - r) ** 2, axis=1))) / var
    l0 = float(mx.mean(mx.sum(sae.codes(Ava) > 0, axis=1)))
    dead = int(mx.sum(mx.max(sae.codes(Atr[:2000]), axis=0) <= 0))
    print(f"step_{step} = lr={schedule(step):.0e} loss={float(loss):.4f} fvu={fvu:.4f} l0={l0:.2f} dead={dead}")


print("\n[stage.sae]")
step = 0
while step < STEPS:
    step += 1
    opt.learning_rate = schedule(step)
    idx = mx.array(rng.integers(0, 6000, size=128))
    loss, g = g_fn(sae, Atr[idx], L1)
    opt.update(sae, g)
    sae.W_dec = sae.W_dec / mx.maximum(mx.linalg.norm(sae.W_dec, axis=0, keepdims=True), 1e-6)
    mx.eval(sae.parameters(), opt.state)
    if step <= CKPT and step % 200 == 0:
        report(step, loss)
    if step == CKPT:
        mx.save_safetensors(os.path.join(ckdir, "sae.safetensors"), dict(tree_flatten(sae.parameters())))
        mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        before = float(mx.mean(mx.sum((Ava - sae(Ava)) ** 2, axis=1))) / var
        # rebuild from disk
        p = tree_unflatten(list(mx.load(os.path.join(ckdir, "sae.safetensors")).items()))
        sae = build(p)
        opt = optim.Lion(learning_rate=schedule(step), weight_decay=0.0)
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
        g_fn = nn.value_and_grad(sae, sae_loss)
        after = float(mx.mean(mx.sum((Ava - sae(Ava)) ** 2, axis=1))) / var
        print(f"checkpoint = step {step} fvu_before={before:.4f} fvu_after_reload={after:.4f}")
        print("; quiet until the end of the stage")
report(step, loss)

# ---------- stage 3: splice the SAE back into the classifier ----------
print("\n[stage.splice]")
mean_h = mx.mean(Atr, axis=0)
zero_ce = ce(net(Xva, patch=lambda h: mx.zeros_like(h)), Yva)
mean_ce = ce(net(Xva, patch=lambda h: mx.broadcast_to(mean_h, h.shape)), Yva)
sae_logits = net(Xva, patch=sae)
sae_ce = ce(sae_logits, Yva)
recovered = (mean_ce - sae_ce) / (mean_ce - base_ce)
print(f"clean = ce={base_ce:.4f} acc={acc(base_logits, Yva):.3f}")
print(f"zero_ablate = ce={zero_ce:.4f}")
print(f"mean_ablate = ce={mean_ce:.4f}")
print(f"sae_spliced = ce={sae_ce:.4f} acc={acc(sae_logits, Yva):.3f}")
print(f"ce_delta_vs_clean = {sae_ce - base_ce:+.4f}")
print(f"ce_recovered_frac = {recovered:.3f}")
print(f"wall_seconds = {time.time() - t0:.1f}")
