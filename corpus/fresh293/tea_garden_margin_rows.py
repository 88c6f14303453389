import json, os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)
N_FEAT, N_LAT = 16, 6
MIX = rng.normal(size=(N_LAT, N_FEAT)) / np.sqrt(N_LAT)
NUIS = rng.normal(size=(3, N_FEAT)) * 0.9


def estates(n, per):
    centres = rng.normal(size=(n, N_LAT))
    z = np.repeat(centres, per, axis=0) + 0.35 * rng.normal(size=(n * per, N_LAT))
    x = np.tanh(z @ MIX) + rng.normal(size=(n * per, 3)) @ NUIS + 0.1 * rng.normal(size=(n * per, N_FEAT))
    y = np.repeat(np.arange(n), per)
    return x.astype(np.float32), y


xtr, ytr = estates(40, 30)
xte, yte = estates(15, 12)
mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
xtr, xte = (xtr - mu) / sd, (xte - mu) / sd


class Taster(nn.Module):
    def __init__(self, n_cls):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 16)
        self.beta = mx.full((n_cls,), 1.2)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        e = self.out(h)
        return e / mx.sqrt(mx.sum(e * e, axis=1, keepdims=True) + 1e-12)


def recall_at_1(emb, y):
    d = ((emb[:, None, :] - emb[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return float((y[d.argmin(1)] == y).mean() * 100)


def dw_negatives(e, y, anchors):
    # distance-weighted sampling on the unit sphere (dim 16)
    d = np.sqrt(np.maximum(((e[anchors][:, None] - e[None]) ** 2).sum(-1), 0.25))
    n = e.shape[1]
    logw = (2.0 - n) * np.log(d) - ((n - 3) / 2.0) * np.log(np.maximum(1.0 - 0.25 * d * d, 1e-8))
    logw[y[anchors][:, None] == y[None]] = -np.inf
    logw -= logw.max(1, keepdims=True)
    w = np.exp(logw)
    w /= w.sum(1, keepdims=True)
    return np.array([rng.choice(len(y), p=row) for row in w])


ALPHA, NU = 0.2, 0.0


def loss_fn(model, xb, ia, ip, ineg, cls):
    e = model(xb)
    dap = mx.sqrt(mx.sum((e[ia] - e[ip]) ** 2, axis=1) + 1e-8)
    dan = mx.sqrt(mx.sum((e[ia] - e[ineg]) ** 2, axis=1) + 1e-8)
    b = model.beta[cls]
    lp = nn.relu(ALPHA + dap - b)
    ln = nn.relu(ALPHA - dan + b)
    active = mx.sum((lp > 0) + (ln > 0)).astype(mx.float32)
    return (mx.sum(lp + ln) + NU * mx.sum(b)) / mx.maximum(active, 1.0)


def batch(P=10, K=6):
    cls = rng.choice(40, P, replace=False)
    idx = np.concatenate([rng.choice(np.where(ytr == c)[0], K, replace=False) for c in cls])
    return idx


def make_opt():
    sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 50), optim.cosine_decay(2e-3, 550, 1e-5)], [50])
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def train_steps(model, opt, start, stop, log):
    step_fn = nn.value_and_grad(model, loss_fn)
    for step in range(start, stop + 1):
        idx = batch()
        xb = mx.array(xtr[idx])
        yb = ytr[idx]
        e_np = np.array(mx.stop_gradient(model(xb)))
        ia, ip = [], []
        for i in range(len(idx)):
            same = np.where((yb == yb[i]) & (np.arange(len(idx)) != i))[0]
            ia.append(i)
            ip.append(rng.choice(same))
        ia, ip = np.array(ia), np.array(ip)
        ineg = dw_negatives(e_np, yb, ia)
        loss, g = step_fn(model, xb, mx.array(ia), mx.array(ip), mx.array(ineg), mx.array(ytr[idx][ia]))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if log and step % 50 == 0:
            r = recall_at_1(np.array(model(mx.array(xte))), yte)
            lr = float(opt.learning_rate)
            print(f"{step}\t{lr:.6f}\t{loss.item():.4f}\t{float(model.beta.mean()):.3f}\t{r:.1f}")


t0 = time.time()
print(f"# estates train=40x30 unseen=15x12 features={N_FEAT}")
print(f"# reference unseen recall@1: chance={100/15:.1f} raw-features={recall_at_1(xte, yte):.1f}")
model = Taster(40)
mx.eval(model.parameters())
print(f"# untrained encoder recall@1: {recall_at_1(np.array(model(mx.array(xte))), yte):.1f}")
opt = make_opt()
print("# session 1: steps 1-300 (quiet)")
train_steps(model, opt, 1, 300, log=False)
r_saved = recall_at_1(np.array(model(mx.array(xte))), yte)

with tempfile.TemporaryDirectory() as tmp:
    model.save_weights(os.path.join(tmp, "taster.safetensors"))
    mx.save_safetensors(os.path.join(tmp, "opt.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(tmp, "meta.json"), "w") as f:
        json.dump({"step": 300, "recall": r_saved}, f)
    del model, opt
    model = Taster(40)
    model.load_weights(os.path.join(tmp, "taster.safetensors"))
    opt = make_opt()
    opt.state = tree_unflatten(list(mx.load(os.path.join(tmp, "opt.safetensors")).items()))
    meta = json.load(open(os.path.join(tmp, "meta.json")))
r_back = recall_at_1(np.array(model(mx.array(xte))), yte)
print(f"# checkpoint step={meta['step']} recall saved={meta['recall']:.1f} reloaded={r_back:.1f} opt_step={int(opt.state['step'])}")
print("step\tlr\tmargin_loss\tbeta_mean\tunseen_r@1")
train_steps(model, opt, 301, 600, log=True)
print(f"# done in {time.time() - t0:.1f}s")
