# Micropaleontology bench: sort picked foraminifera into 4 test morphologies from
# tiny 12x12 greyscale slide crops, with a small ViT (class token + learned positions).
import math, os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)
S, P = 12, 3                      # image side, patch side
NP = (S // P) ** 2                # 16 patches
CLASSES = ["planispiral", "trochospiral", "uniserial", "biserial"]

yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)

def blob(img, cy, cx, r, v):
    img += v * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))

def specimen(k):
    img = np.zeros((S, S), np.float32)
    cy, cx = 5.5 + rng.normal(0, 0.7), 5.5 + rng.normal(0, 0.7)
    ang0 = rng.uniform(0, 2 * np.pi)
    if k == 0:    # chambers on a flat spiral, growing outward
        for j in range(7):
            a = ang0 + 0.9 * j; rr = 0.6 + 0.45 * j
            blob(img, cy + rr * np.sin(a), cx + rr * np.cos(a), 0.6 + 0.08 * j, 1.0)
    elif k == 1:  # tight low spiral, bright umbilical centre
        for j in range(5):
            a = ang0 + 1.3 * j; rr = 1.2 + 0.3 * j
            blob(img, cy + rr * np.sin(a), cx + rr * np.cos(a), 0.9, 0.8)
        blob(img, cy, cx, 1.1, 1.3)
    elif k == 2:  # single row of chambers along a line
        d = np.array([np.sin(ang0), np.cos(ang0)])
        for j in range(5):
            o = (j - 2) * 1.7
            blob(img, cy + o * d[0], cx + o * d[1], 0.55 + 0.1 * j, 1.0)
    else:         # two interleaved rows
        d = np.array([np.sin(ang0), np.cos(ang0)]); n = np.array([-d[1], d[0]])
        for j in range(6):
            o = (j - 2.5) * 1.1; s = 0.9 if j % 2 else -0.9
            blob(img, cy + o * d[0] + s * n[0], cx + o * d[1] + s * n[1], 0.6, 0.9)
    img *= rng.uniform(0.7, 1.3)
    img += rng.normal(0, 0.25, img.shape)
    return img

def make(n):
    y = rng.integers(0, 4, n)
    x = np.stack([specimen(int(k)) for k in y])
    return x, y.astype(np.int32)

Xtr, Ytr = make(1280)
Xva, Yva = make(400)
mu, sd = Xtr.mean(), Xtr.std()
Xtr = (Xtr - mu) / sd; Xva = (Xva - mu) / sd
Xtr, Ytr, Xva, Yva = map(mx.array, (Xtr, Ytr, Xva, Yva))
majority = float(np.bincount(np.array(Yva)).max() / len(np.array(Yva)))

def patchify(x):
    b = x.shape[0]
    x = x.reshape(b, S // P, P, S // P, P).transpose(0, 1, 3, 2, 4)
    return x.reshape(b, NP, P * P)

class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.n1 = nn.LayerNorm(d); self.att = nn.MultiHeadAttention(d, h)
        self.n2 = nn.LayerNorm(d); self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
    def __call__(self, x):
        h = self.n1(x); x = x + self.att(h, h, h)
        return x + self.ff(self.n2(x))

class TinyViT(nn.Module):
    def __init__(self, d=32, depth=2, heads=4):
        super().__init__()
        self.embed = nn.Linear(P * P, d)
        self.cls = mx.zeros((1, 1, d))
        self.pos = 0.02 * mx.random.normal((1, NP + 1, d))
        self.blocks = [Block(d, heads) for _ in range(depth)]
        self.norm = nn.LayerNorm(d); self.head = nn.Linear(d, 4)
    def __call__(self, x):
        t = self.embed(patchify(x))
        c = mx.broadcast_to(self.cls, (t.shape[0], 1, t.shape[2]))
        t = mx.concatenate([c, t], axis=1) + self.pos
        for b in self.blocks:
            t = b(t)
        return self.head(self.norm(t[:, 0]))

def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")

def evaluate(m):
    lg = m(Xva)
    l = nn.losses.cross_entropy(lg, Yva, reduction="mean")
    acc = (mx.argmax(lg, axis=1) == Yva).astype(mx.float32).mean()
    return l.item(), acc.item()

BS, EPOCHS = 64, 8
steps_per_epoch = Xtr.shape[0] // BS
total = EPOCHS * steps_per_epoch
warm = steps_per_epoch            # warmup starts at exactly 0
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-5)], [warm])

def build():
    m = TinyViT(); o = optim.AdamW(learning_rate=sched, weight_decay=0.05)
    return m, o

model, opt = build()
mx.eval(model.parameters())
print(f"params: {sum(v.size for _, v in tree_flatten(model.parameters()))}  "
      f"train {Xtr.shape[0]}  val {Xva.shape[0]}  majority-class val acc {majority:.3f}  chance 0.250")

ckdir = tempfile.mkdtemp("_foram")
def save(m, o, ep):
    mx.save_safetensors(os.path.join(ckdir, "model.safetensors"), dict(tree_flatten(m.parameters())))
    mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(o.state)))
    with open(os.path.join(ckdir, "epoch.txt"), "w") as f: f.write(str(ep))

def load():
    m, o = build()
    m.update(tree_unflatten(list(mx.load(os.path.join(ckdir, "model.safetensors")).items())))
    o.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
    with open(os.path.join(ckdir, "epoch.txt")) as f: ep = int(f.read())
    return m, o, ep

def run_epochs(m, o, start, stop):
    step_fn = nn.value_and_grad(m, loss_fn)
    for ep in range(start, stop):
        t0 = time.time(); perm = mx.array(rng.permutation(Xtr.shape[0]))
        tot = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * BS:(i + 1) * BS]
            l, g = step_fn(m, Xtr[idx], Ytr[idx])
            o.update(m, g); mx.eval(m.parameters(), o.state)
            tot += l.item()
            if ep == 0 and i in (0, 1, 2):
                print(f"  ep 0 step {i}: lr {float(o.learning_rate):.2e}  loss {l.item():.4f}")
        vl, va = evaluate(m)
        print(f"epoch {ep + 1:2d}  lr {float(o.learning_rate):.2e}  train {tot / steps_per_epoch:.4f}  "
              f"val {vl:.4f}  val_loglik {-vl:+.4f}  acc {va:.3f} (majority {majority:.3f})  {time.time() - t0:.1f}s")
    return m, o

model, opt = run_epochs(model, opt, 0, 4)
save(model, opt, 4)
print(f"checkpoint written at epoch 4; simulating a restart of the job")
del model, opt
model, opt, start = load()
vl, va = evaluate(model)
print(f"resumed at epoch {start}: step {int(opt.state['step'])}  val {vl:.4f}  acc {va:.3f}")
model, opt = run_epochs(model, opt, start, EPOCHS)

vl, va = evaluate(model)
pred = np.array(mx.argmax(model(Xva), axis=1)); yv = np.array(Yva)
for k, name in enumerate(CLASSES):
    msk = yv == k
    print(f"  {name:13s} n={msk.sum():3d}  recall {(pred[msk] == k).mean():.3f}")
print(f"final val loss {vl:.4f}  acc {va:.3f}  vs majority {majority:.3f}")
