# Textile mill: embed woven-swatch scanner readings so swatches of the same dye lot sit
# together (multi-similarity loss), with a mid-run save and resume into fresh objects.
import os, shutil, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(21)
D_IN, D_LAT = 18, 6
mix = rng.normal(size=(D_LAT, D_IN)) / np.sqrt(D_LAT)

def make_lots(n_lots, per):
    lots = rng.normal(size=(n_lots, D_LAT))
    y = np.repeat(np.arange(n_lots), per)
    z = lots[y] + 0.30 * rng.normal(size=(len(y), D_LAT))
    shade = rng.normal(size=(len(y), 1)) * 0.5          # lighting drift, nuisance
    x = np.tanh(z @ mix) + shade + 0.08 * rng.normal(size=(len(y), D_IN))
    return x.astype(np.float32), y

Xtr, Ytr = make_lots(80, 30)
Xte, Yte = make_lots(30, 12)          # unseen lots

class Embed(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(D_IN, 96), nn.SiLU(), nn.Linear(96, 96), nn.SiLU(), nn.Linear(96, 16))
    def __call__(self, x):
        h = self.body(x)
        return h / mx.sqrt((h * h).sum(-1, keepdims=True) + 1e-8)

A, B, LAM, EPS = 2.0, 40.0, 0.5, 0.1

def ms_loss(model, x, y):
    e = model(x)
    s = e @ e.T
    same = (y[:, None] == y[None, :])
    eye = mx.eye(s.shape[0]).astype(mx.bool_)
    pos = mx.logical_and(same, mx.logical_not(eye))
    neg = mx.logical_not(same)
    sg = mx.stop_gradient(s)
    big = 1e4
    hardest_pos = mx.min(mx.where(pos, sg, big), axis=1, keepdims=True)
    hardest_neg = mx.max(mx.where(neg, sg, -big), axis=1, keepdims=True)
    keep_neg = mx.logical_and(neg, sg + EPS > hardest_pos)
    keep_pos = mx.logical_and(pos, sg - EPS < hardest_neg)
    lp = mx.logsumexp(mx.where(keep_pos, -A * (s - LAM), -big), axis=1)
    ln = mx.logsumexp(mx.where(keep_neg, B * (s - LAM), -big), axis=1)
    lp = mx.logaddexp(lp, mx.zeros_like(lp)) / A
    ln = mx.logaddexp(ln, mx.zeros_like(ln)) / B
    return (lp + ln).mean()

def recall1(model, x, y):
    e = model(mx.array(x))
    s = np.array(e @ e.T)
    np.fill_diagonal(s, -9)
    return 100.0 * float((y[s.argmax(1)] == y).mean())

def pk_batch(p=12, k=6):
    lots = rng.choice(80, size=p, replace=False)
    idx = np.concatenate([rng.choice(np.where(Ytr == c)[0], size=k, replace=False) for c in lots])
    return mx.array(Xtr[idx]), mx.array(Ytr[idx])

# SGDR: cosine cycles of 300 steps, lr jumps back up at each restart
def lr_at(step):
    c = (step - 1) % 300
    return float(1e-4 + 0.5 * (3e-3 - 1e-4) * (1 + np.cos(np.pi * c / 300)))

def build():
    m = Embed()
    o = optim.Adam(learning_rate=3e-3)
    return m, o

mx.random.seed(5)
model, opt = build()
mx.eval(model.parameters())
ckdir = tempfile.mkdtemp(None, "loom_")
print("phase\tstep\tlr\tms_loss\tunseen_recall1_pct\tsecs")
print(f"init\t0\t-\t-\t{recall1(model, Xte, Yte):.1f}\t0.0")
t0, win, TOTAL, SAVE_AT = time.time(), [], 900, 450

def run(model, opt, start, stop, phase):
    vg = nn.value_and_grad(model, ms_loss)
    win = []
    for step in range(start, stop + 1):
        opt.learning_rate = lr_at(step)
        x, y = pk_batch()
        loss, g = vg(model, x, y)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        win.append(loss.item())
        if step % 75 == 0 or step == start:
            print(f"{phase}\t{step}\t{lr_at(step):.5f}\t{np.mean(win):.4f}\t{recall1(model, Xte, Yte):.1f}\t{time.time() - t0:.1f}")
            win = []

run(model, opt, 1, SAVE_AT, "train")
model.save_weights(os.path.join(ckdir, "model.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
before = recall1(model, Xte, Yte)
del model, opt

model, opt = build()
model.load_weights(os.path.join(ckdir, "model.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
mx.eval(model.parameters(), opt.state)
print(f"# resumed from {ckdir} at step {SAVE_AT}: recall {before:.1f} -> {recall1(model, Xte, Yte):.1f}")
run(model, opt, SAVE_AT + 1, TOTAL, "resume")
print(f"# done: unseen-lot recall@1 {recall1(model, Xte, Yte):.1f}% (chance {100 / 30:.1f}%)")
shutil.rmtree(ckdir)
