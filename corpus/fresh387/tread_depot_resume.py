import os, sys, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
H = W = 12

def make_tiles(n):
    # 3 wear classes: new (deep grooves), worn (shallow), bald (almost none); random groove angle/offset
    y = rng.integers(0, 3, n)
    depth = np.array([1.0, 0.45, 0.12])[y]
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    ang = rng.uniform(-0.5, 0.5, n)[:, None, None]
    ph = rng.uniform(0, 2 * np.pi, n)[:, None, None]
    period = rng.uniform(3.0, 4.5, n)[:, None, None]
    u = xx[None] * np.cos(ang) + yy[None] * np.sin(ang)
    img = depth[:, None, None] * np.cos(2 * np.pi * u / period + ph)
    img += rng.normal(0, 0.55, (n, H, W))
    img += rng.uniform(-0.5, 0.5, n)[:, None, None]
    return img[..., None].astype(np.float32), y.astype(np.int32)

xtr, ytr = make_tiles(1200)
xva, yva = make_tiles(400)

class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.b1 = nn.BatchNorm(c)
        self.c2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.b2 = nn.BatchNorm(c)
    def __call__(self, x):
        h = nn.relu(self.b1(self.c1(x)))
        return nn.relu(x + self.b2(self.c2(h)))

class TreadNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm(8)
        self.block = Block(8)
        self.down = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.head = nn.Linear(16, 3)
    def __call__(self, x):
        x = nn.relu(self.bn(self.stem(x)))
        x = self.block(x)
        x = nn.relu(self.down(x))
        return self.head(x.mean(axis=(1, 2)))

def soft_ce(model, x, target):
    logits = model(x)
    return -(target * nn.log_softmax(logits, axis=-1)).sum(axis=-1).mean()

def evaluate(model, tta=False):
    model.eval()
    logits = model(mx.array(xva))
    if tta:
        logits = (nn.softmax(logits, axis=-1) + nn.softmax(model(mx.array(np.ascontiguousarray(xva[:, :, ::-1, :]))), axis=-1)
                  + nn.softmax(model(mx.array(np.ascontiguousarray(xva[:, ::-1, :, :]))), axis=-1))
    acc = (mx.argmax(logits, axis=-1) == mx.array(yva)).mean().item()
    ce = nn.losses.cross_entropy(model(mx.array(xva)), mx.array(yva), reduction="mean").item()
    model.train()
    return ce, 100 * acc

EPOCHS, BS = 6, 50
steps_per_epoch = len(xtr) // BS
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, steps_per_epoch),
                              optim.cosine_decay(3e-3, steps_per_epoch * (EPOCHS - 1), 1e-5)],
                             [steps_per_epoch])

def build():
    m = TreadNet()
    o = optim.AdamW(learning_rate=sched, weight_decay=5e-4)
    return m, o

def run_epochs(model, opt, first, last, log):
    lg = nn.value_and_grad(model, soft_ce)
    for ep in range(first, last + 1):
        perm = rng.permutation(len(xtr))
        tot, t0 = 0.0, time.time()
        for i in range(steps_per_epoch):
            idx = perm[i * BS:(i + 1) * BS]
            xb, yb = xtr[idx], ytr[idx]
            lam = rng.beta(0.4, 0.4)
            j = rng.permutation(BS)
            oh = np.eye(3, dtype=np.float32)[yb]
            xm = lam * xb + (1 - lam) * xb[j]
            tm = lam * oh + (1 - lam) * oh[j]
            lr_now = opt.learning_rate.item()
            loss, g = lg(model, mx.array(xm), mx.array(tm))
            opt.update(model, g)
            mx.eval(loss, model.parameters(), opt.state)
            tot += loss.item()
            if i % 10 == 0:
                sys.stdout.write(f"\r  ep {ep} [{i+1:3d}/{steps_per_epoch}] mix-ce {loss.item():.3f} lr {lr_now:.2e}")
                sys.stdout.flush()
        ce, acc = evaluate(model)
        _, tacc = evaluate(model, tta=True)
        sys.stdout.write("\r" + " " * 60 + "\r")
        log(f"epoch {ep}/{EPOCHS}  mix-ce {tot/steps_per_epoch:.4f}  val-ce {ce:.4f}  acc {acc:.1f}%  tta-acc {tacc:.1f}%  ({time.time()-t0:.1f}s)")

mx.random.seed(0)
model, opt = build()
print(f"tiles: train {len(xtr)} val {len(xva)}; chance acc 33.3%; lr starts at {sched(0).item():.1f}")
ce0, acc0 = evaluate(model)
print(f"untrained: val-ce {ce0:.4f} acc {acc0:.1f}%")
run_epochs(model, opt, 1, 3, print)

ck = tempfile.mkdtemp()
model.save_weights(os.path.join(ck, "tread.safetensors"))
mx.save_safetensors(os.path.join(ck, "opt.safetensors"), dict(tree_flatten(opt.state)))
saved_ce, _ = evaluate(model)
print(f"checkpoint written after epoch 3 (val-ce {saved_ce:.4f}); session closed")
del model, opt

model, opt = build()
model.load_weights(os.path.join(ck, "tread.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ck, "opt.safetensors")).items()))
re_ce, _ = evaluate(model)
print(f"resumed: val-ce {re_ce:.4f} (saved {saved_ce:.4f}), optimizer step {opt.step.item()}, lr {opt.learning_rate.item():.2e}")
run_epochs(model, opt, 4, EPOCHS, print)
ce, acc = evaluate(model)
print(f"final: val-ce {ce:.4f}  acc {acc:.1f}%  (chance 33.3%)")
