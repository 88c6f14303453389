"""Letterpress shop: tell which of six worn typefaces struck an impression.

Stage 1 learns an encoder with a noisy contrastive (NT-Xent) objective on
unlabelled impressions; stage 2 freezes it and fits a linear probe on a
small labelled tray.  Printed as a plain table, chance level beside it.
"""
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rs = np.random.RandomState(11)
mx.random.seed(11)
S, K = 12, 6

# six typeface "templates": smooth random strokes on a 12x12 block
def blur(a):
    return (a + np.roll(a, 1, -1) + np.roll(a, -1, -1) + np.roll(a, 1, -2) + np.roll(a, -1, -2)) / 5.0
templates = []
for k in range(K):
    t = np.zeros((S, S))
    for _ in range(3):
        r0, c0 = rs.randint(2, S - 2, 2)
        dr, dc = rs.choice([-1, 0, 1], 2)
        for i in range(7):
            r, c = np.clip(r0 + dr * i, 1, S - 2), np.clip(c0 + dc * i + (i % 2) * (k % 2), 1, S - 2)
            t[r, c] = 1.0
    templates.append(blur(blur(t)) * 2.5)
templates = np.stack(templates)

def impressions(n, rng):
    y = rng.randint(0, K, n)
    x = templates[y].copy()
    for i in range(n):  # press shift, uneven bite, ink speckle
        x[i] = np.roll(x[i], rng.randint(-1, 2), 0)
        x[i] = np.roll(x[i], rng.randint(-1, 2), 1)
    x = x * rng.uniform(0.6, 1.4, (n, 1, 1)) + rng.normal(0, 0.35, x.shape)
    return x[..., None].astype(np.float32), y.astype(np.int32)

X_unlab, _ = impressions(4000, rs)
X_tray, y_tray = impressions(240, rs)      # small labelled tray
X_test, y_test = impressions(1200, rs)

def augment(x):
    sh = mx.random.randint(-1, 2, (2,))
    x = mx.roll(mx.roll(x, int(sh[0].item()), 1), int(sh[1].item()), 2)
    return x * mx.random.uniform(0.7, 1.3, (x.shape[0], 1, 1, 1)) + 0.25 * mx.random.normal(x.shape)

class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.fc = nn.Linear(32 * 6 * 6, 64)
    def __call__(self, x):
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))
        return nn.gelu(self.fc(h.reshape(h.shape[0], -1)))

class SimCLR(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = Encoder()
        self.proj = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32))
    def __call__(self, x):
        z = self.proj(self.enc(x))
        return z / mx.linalg.norm(z, axis=1, keepdims=True)

def nt_xent(model, a, b, tau=0.2):
    za, zb = model(a), model(b)
    z = mx.concatenate([za, zb], 0)
    n = za.shape[0]
    sim = (z @ z.T) / tau - 1e9 * mx.eye(2 * n)
    target = mx.concatenate([mx.arange(n, 2 * n), mx.arange(0, n)])
    return nn.losses.cross_entropy(sim, target, reduction="mean")

net = SimCLR()
opt1 = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
lg = nn.value_and_grad(net, nt_xent)

print(f"{'stage':<8}{'step':>6}{'objective':>12}{'reference':>12}")
B, STEPS1 = 64, 160
ref = math.log(2 * B - 1)   # NT-Xent of an encoder that knows nothing
first = True
for step in range(1, STEPS1 + 1):
    xb = mx.array(X_unlab[rs.randint(0, len(X_unlab), B)])
    loss, g = lg(net, augment(xb), augment(xb))
    if first:
        dead = [k for k, v in tree_flatten(g) if float(mx.abs(v).sum()) == 0]
        print(f"# zero-gradient tensors at step 1: {dead if dead else 'none'}")
        first = False
    opt1.update(net, g)
    mx.eval(net.parameters(), opt1.state, loss)
    if step % 20 == 0:
        print(f"{'pretext':<8}{step:>6}{loss.item():>12.4f}{ref:>12.4f}")

# stage 2: frozen encoder, linear probe; step counter starts over
net.enc.freeze()
probe = nn.Linear(64, K)
opt2 = optim.Adam(learning_rate=optim.linear_schedule(0.0, 0.02, 30))
def probe_loss(p, x, y):
    return nn.losses.cross_entropy(p(mx.stop_gradient(net.enc(x))), y, reduction="mean")
plg = nn.value_and_grad(probe, probe_loss)
Xt, yt = mx.array(X_tray), mx.array(y_tray)
Xs, ys = mx.array(X_test), mx.array(y_test)
enc_before = float(mx.abs(net.enc.fc.weight).sum())
chance = 100.0 / K
print(f"{'stage':<8}{'step':>6}{'tray_ce':>12}{'test_acc%':>12}{'chance%':>10}")
for step in range(1, 151):
    idx = mx.array(rs.randint(0, len(X_tray), 64))
    loss, g = plg(probe, Xt[idx], yt[idx])
    opt2.update(probe, g)
    mx.eval(probe.parameters(), opt2.state, loss)
    if step % 25 == 0 or step == 1:
        acc = (mx.argmax(probe(net.enc(Xs)), 1) == ys).mean().item() * 100
        print(f"{'probe':<8}{step:>6}{loss.item():>12.4f}{acc:>12.1f}{chance:>10.1f}")
drift = abs(float(mx.abs(net.enc.fc.weight).sum()) - enc_before)
print(f"# encoder |W| drift during probe: {drift:.2e} (frozen on purpose)")
