# Vinyl-record playback defect classification (clean / crackle / mains hum / rumble / groove skip)
# from 256-sample frames of synthetic audio; small channels-last Conv1d net, Adam with warm-up +
# cosine, compiled step; the whole report imitates `df -h`, printed at the end.
import math, time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
SR, N = 4000, 256
CLASSES = ["clean", "crackle", "hum", "rumble", "skip"]

def frame(c):
    t = np.arange(N) / SR
    x = np.zeros(N)
    for _ in range(3):  # music: a few tones
        x += rng.uniform(0.1, 0.4) * np.sin(2*np.pi*rng.uniform(200, 1500)*t + rng.uniform(0, 6.3))
    x += rng.normal(0, 0.02, N)
    if c == 1:
        k = rng.integers(3, 9)
        pos = rng.integers(0, N-3, k)
        for p in pos:
            x[p:p+2] += rng.choice([-1, 1]) * rng.uniform(0.6, 1.5)
    elif c == 2:
        f = rng.choice([50.0, 60.0])
        x += rng.uniform(0.3, 0.7) * (np.sin(2*np.pi*f*t) + 0.4*np.sin(2*np.pi*3*f*t))
    elif c == 3:
        x += rng.uniform(0.5, 1.0) * np.sin(2*np.pi*rng.uniform(6, 14)*t + rng.uniform(0, 6.3))
    elif c == 4:
        p = rng.integers(60, 200)
        x[p:] = np.roll(x[p:], rng.integers(20, 60)) * rng.uniform(0.3, 0.6)
        x[p:p+4] += rng.uniform(0.5, 1.0)
    return x * rng.uniform(0.5, 1.5)

def make(n):
    y = rng.integers(0, 5, n)
    X = np.stack([frame(c) for c in y]).astype(np.float32)[:, :, None]
    return mx.array(X), mx.array(y)

Xtr, ytr = make(2400)
Xva, yva = make(600)

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 16, 9, stride=2)
        self.c2 = nn.Conv1d(16, 32, 7, stride=2)
        self.c3 = nn.Conv1d(32, 32, 5, stride=2)
        self.head = nn.Linear(64, 5)
    def __call__(self, x):
        h = nn.relu(self.c1(x)); h = nn.relu(self.c2(h)); h = nn.relu(self.c3(h))
        return self.head(mx.concatenate([h.mean(1), h.max(1)], -1))

model = Net()
mx.eval(model.parameters())
bs, epochs = 64, 6
steps = epochs * (Xtr.shape[0] // bs)
sched = optim.join_schedules([optim.linear_schedule(1e-5, 3e-3, 40), optim.cosine_decay(3e-3, steps - 40, 1e-4)], [40])
opt = optim.Adam(learning_rate=sched)

def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")

vg = nn.value_and_grad(model, loss_fn)
l0, g0 = vg(model, Xtr[:bs], ytr[:bs])
leaves = tree_flatten(g0)
zero = sum(1 for _, g in leaves if float(mx.abs(g).max()) == 0.0)

@partial(mx.compile, inputs=[model.state, opt.state], outputs=[model.state, opt.state])
def step(x, y):
    l, g = vg(model, x, y)
    opt.update(model, g)
    return l

def evaluate():
    logits = model(Xva)
    ce = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
    pred = mx.argmax(logits, -1)
    acc = mx.mean(pred == yva).item()
    pn, yn = np.array(pred), np.array(yva)
    rec = [float(np.mean(pn[yn == c] == c)) for c in range(5)]
    return ce, acc, rec

rows = []
ce0, acc0, _ = evaluate()
t0 = time.time()
n = Xtr.shape[0]
for ep in range(1, epochs + 1):
    perm = mx.array(rng.permutation(n))
    tot, k = 0.0, 0
    for s in range(0, n - bs + 1, bs):
        idx = perm[s:s+bs]
        l = step(Xtr[idx], ytr[idx])
        mx.eval(l, model.state, opt.state)
        tot += l.item(); k += 1
    ce, acc, rec = evaluate()
    rows.append((ep, tot / k, ce, acc, rec, opt.learning_rate.item(), time.time() - t0))

print("Filesystem              Size  Used Avail Use% Mounted on")
print(f"gradcheck               {len(leaves):4d}  {zero:4d}  {len(leaves)-zero:4d}   0% /grad/leaves?loss0={l0.item():.3f}")
print(f"untrained               {math.log(5):.2f}  {ce0:.2f}  ----  {int(acc0*100):2d}% /valid/chance_ce_vs_ce")
for ep, tr, ce, acc, rec, lr, el in rows:
    print(f"/dev/epoch{ep:02d}           {tr:.3f} {ce:.3f} {el:4.1f}s {int(round(acc*100)):3d}% /runs/vinyl/ep{ep:02d}?lr={lr:.2e}&recall=" +
          ",".join(f"{CLASSES[c]}:{r:.2f}" for c, r in enumerate(rec)))
print(f"tmpfs                   {Xtr.shape[0]}  {Xva.shape[0]}     -    - /dev/shm/frames")
