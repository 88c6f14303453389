# Sourdough starter: predict hours to peak rise from feeding conditions.
# Trains in two sessions: session 1 writes a checkpoint (weights + Adam state),
# session 2 rebuilds everything from scratch, loads the checkpoint and continues.
import os, shutil, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)

def make(n):
    temp = rng.uniform(18, 30, n)          # kitchen C
    hydr = rng.uniform(0.6, 1.2, n)        # water/flour
    ratio = rng.uniform(1, 10, n)          # flour:starter
    rye = rng.uniform(0, 0.5, n)           # rye share
    age = rng.uniform(1, 60, n)            # days since started
    hours = (3.0 + 0.9 * np.log(ratio) * 3.2) * np.exp(-0.075 * (temp - 24)) \
        * (1.15 - 0.25 * rye) * (1.05 - 0.1 * hydr) * (1 + 0.6 * np.exp(-age / 6))
    hours = hours + rng.normal(0, 0.35, n)
    X = np.stack([temp, hydr, ratio, rye, age], 1)
    return X.astype(np.float32), hours.astype(np.float32)

Xtr, ytr = make(10000)
Xva, yva = make(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ym, ys = ytr.mean(), ytr.std()
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
ytr_s = (ytr - ym) / ys

class RiseNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)
    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)

def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)

def val_mae(model):
    p = np.array(model(mx.array(Xva))) * ys + ym
    return float(np.abs(p - yva).mean())

def run_session(model, opt, first_step, n_steps, tag, audit=False):
    vg = nn.value_and_grad(model, loss_fn)
    n = len(Xtr)
    order = np.random.default_rng(first_step).permutation(n)
    cur, bs, win = 0, 128, []
    t0 = time.time()
    for step in range(first_step + 1, first_step + n_steps + 1):
        if cur + bs > n:
            order = np.random.default_rng(step).permutation(n); cur = 0
        idx = mx.array(order[cur:cur + bs]); cur += bs
        loss, grads = vg(model, mx.array(Xtr)[idx], mx.array(ytr_s)[idx])
        if audit and step == first_step + 1:
            flat = tree_flatten(grads)
            zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
            print(repr({"event": "grad_check", "leaves": len(flat), "zero": zero}))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        win.append(loss.item())
        if step % 300 == 0:
            print(repr({"session": tag, "step": step, "lr": float(opt.learning_rate),
                        "train_mse_std": round(float(np.mean(win)), 4),
                        "val_mae_h": round(val_mae(model), 3),
                        "secs": round(time.time() - t0, 1)}))
            win = []

sched = optim.cosine_decay(2e-3, 2400, 5e-5)
mx.random.seed(0)
model = RiseNet()
opt = optim.Adam(learning_rate=sched)
print(repr({"event": "data", "train": len(Xtr), "val": len(Xva),
            "predict_mean_mae_h": round(float(np.abs(ytr.mean() - yva).mean()), 3)}))
print(repr({"event": "untrained", "val_mae_h": round(val_mae(model), 3)}))
run_session(model, opt, 0, 1200, "first", audit=True)
mae_before = val_mae(model)

ckdir = tempfile.mkdtemp(prefix="sourdough_")
wpath = os.path.join(ckdir, "weights.safetensors")
opath = os.path.join(ckdir, "opt.safetensors")
model.save_weights(wpath)
mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
print(repr({"event": "checkpoint", "dir": ckdir, "step": int(opt.state["step"])}))
del model, opt

# session 2: fresh objects, restored from disk
mx.random.seed(123)
model = RiseNet()
model.load_weights(wpath)
opt = optim.Adam(learning_rate=sched)
opt.state = tree_unflatten(list(mx.load(opath).items()))
mx.eval(model.parameters(), opt.state)
print(repr({"event": "resumed", "step": int(opt.state["step"]),
            "val_mae_h": round(val_mae(model), 3), "before_save": round(mae_before, 3)}))
run_session(model, opt, 1200, 1200, "resumed")
print(repr({"event": "done", "val_mae_h": round(val_mae(model), 3), "noise_floor_mae_h": round(0.35 * 0.798, 3)}))
shutil.rmtree(ckdir)
