"""Weaving shed: will a warp thread break during the next shift?  Binary
classifier on 7 loom readings.  The job is run in two sittings: the first sitting
trains 6 epochs and writes a checkpoint (weights, hand-written RMSprop state and a
JSON meta file) to a scratch folder; the second sitting builds everything afresh,
loads that checkpoint and carries on to epoch 14."""
import json, os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)

def shift_logs(n):
    tension = rng.normal(0, 1, n); humidity = rng.normal(0, 1, n)
    speed = rng.normal(0, 1, n); yarn_age = rng.normal(0, 1, n)
    sizing = rng.normal(0, 1, n); heddle_wear = rng.normal(0, 1, n)
    lint = rng.normal(0, 1, n)  # unrelated
    z = (-1.6 + 1.1 * tension - 0.8 * humidity + 0.7 * speed * tension
         + 0.6 * yarn_age ** 2 - 0.5 * sizing + 0.9 * np.maximum(heddle_wear, 0))
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(np.float32)
    X = np.stack([tension, humidity, speed, yarn_age, sizing, heddle_wear, lint], 1)
    return X.astype(np.float32), y

Xtr, ytr = shift_logs(9000)
Xva, yva = shift_logs(2500)
Xtr_m, ytr_m, Xva_m = mx.array(Xtr), mx.array(ytr), mx.array(Xva)


class WarpNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(7, 64), nn.Linear(64, 64)]
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        for l in self.layers:
            x = nn.gelu(l(x))
        return self.head(x).squeeze(-1)


class HandRMSprop:
    """RMSprop written out by hand; state keyed by tree_flatten paths."""
    def __init__(self, lr=1e-3, alpha=0.99, eps=1e-8):
        self.lr, self.alpha, self.eps = lr, alpha, eps
        self.sq = {}
        self.t = 0

    def step(self, model, grads):
        self.t += 1
        params = dict(tree_flatten(model.trainable_parameters()))
        new = []
        for path, g in tree_flatten(grads):
            v = self.sq.get(path, mx.zeros_like(g))
            v = self.alpha * v + (1 - self.alpha) * g * g
            self.sq[path] = v
            new.append((path, params[path] - self.lr * g / (mx.sqrt(v) + self.eps)))
        model.update(tree_unflatten(new))

    def arrays(self):
        return list(self.sq.values())


def bce(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, with_logits=True, reduction="mean")


def evaluate(model):
    p = mx.sigmoid(model(Xva_m))
    pn = np.array(p)
    pred = pn > 0.5
    tpr = (pred & (yva == 1)).sum() / max(1, (yva == 1).sum())
    tnr = (~pred & (yva == 0)).sum() / max(1, (yva == 0).sum())
    ll = float(bce(model, Xva_m, mx.array(yva)))
    return ll, 100.0 * (tpr + tnr) / 2


def say(tag, **kv):
    body = "; ".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in kv.items())
    print(f"[loom {tag}] {body}")


def run_epochs(model, opt, first, last, seed0, vg):
    for ep in range(first, last + 1):
        perm = np.random.default_rng(seed0 + ep).permutation(len(ytr))
        t0, tot, nb = time.time(), 0.0, 0
        for i in range(0, len(perm) - 63, 64):
            idx = mx.array(perm[i:i + 64])
            loss, g = vg(model, Xtr_m[idx], ytr_m[idx])
            opt.step(model, g)
            mx.eval(model.parameters(), opt.arrays(), loss)
            tot += loss.item(); nb += 1
        ll, bal = evaluate(model)
        say(f"ep {ep:02d}", train_bce=tot / nb, val_bce=ll, val_balanced_acc_pct=bal,
            opt_steps=opt.t, secs=round(time.time() - t0, 2))


ckdir = tempfile.mkdtemp(prefix="loom_ckpt_")
base_rate = float(ytr.mean())
prior_ll = float(-(yva * np.log(base_rate) + (1 - yva) * np.log(1 - base_rate)).mean())
say("data", rows=len(ytr), break_rate_pct=round(100 * base_rate, 1), prior_only_val_bce=prior_ll)

# ---------------- sitting 1 ----------------
mx.random.seed(3)
net = WarpNet()
opt = HandRMSprop(lr=1e-3)
vg = nn.value_and_grad(net, bce)
_, g = vg(net, Xtr_m[:512], ytr_m[:512])
flat = tree_flatten(g)
say("grad check", leaves=len(flat), zero=[p for p, a in flat if float(mx.abs(a).max()) == 0.0])
ll, bal = evaluate(net)
say("ep 00", val_bce=ll, val_balanced_acc_pct=bal)
run_epochs(net, opt, 1, 6, 100, vg)
net.save_weights(os.path.join(ckdir, "warpnet.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "rmsprop.safetensors"), dict(opt.sq))
with open(os.path.join(ckdir, "meta.json"), "w") as f:
    json.dump({"epoch": 6, "t": opt.t, "lr": opt.lr, "alpha": opt.alpha}, f)
say("checkpoint", wrote=sorted(os.listdir(ckdir)), epoch=6)
del net, opt, vg

# ---------------- sitting 2: resume ----------------
mx.random.seed(999)  # different init on purpose; the checkpoint must overwrite it
net = WarpNet()
net.load_weights(os.path.join(ckdir, "warpnet.safetensors"))
meta = json.load(open(os.path.join(ckdir, "meta.json")))
opt = HandRMSprop(lr=meta["lr"], alpha=meta["alpha"])
opt.sq = dict(mx.load(os.path.join(ckdir, "rmsprop.safetensors")))
opt.t = meta["t"]
vg = nn.value_and_grad(net, bce)
ll, bal = evaluate(net)
say("resumed", from_epoch=meta["epoch"], opt_steps=opt.t, val_bce=ll, val_balanced_acc_pct=bal)
run_epochs(net, opt, meta["epoch"] + 1, 14, 100, vg)
for fn in os.listdir(ckdir):
    os.remove(os.path.join(ckdir, fn))
os.rmdir(ckdir)
ll, bal = evaluate(net)
say("done", val_bce=ll, val_balanced_acc_pct=bal, prior_only_val_bce=prior_ll)
