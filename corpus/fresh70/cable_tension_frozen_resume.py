# Stay-cable tension from measured vibration: two models trained in turn.
#  stage 1: a shared "feature net" is pre-trained on plentiful simulated cables to
#           predict the first 4 modal frequencies from geometry (aux task); saved to disk.
#  stage 2: a fresh regressor reloads the feature net from that file, FREEZES it, and
#           trains only its tension head on a small labelled field set, with a linear
#           warm-up whose first learning rate is exactly 0.  Stage 2 is run in two
#           sessions: the first stops at step 300 and writes a checkpoint (head weights +
#           optimizer state + step), the second reloads it and finishes.
import os, shutil, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
workdir = tempfile.mkdtemp(prefix="cable_")

def cables(n):
    L = rng.uniform(40, 250, n)             # length m
    m = rng.uniform(40, 120, n)             # mass per metre kg/m
    sag = rng.uniform(0.002, 0.02, n)       # sag ratio
    T = rng.uniform(1.5e6, 8e6, n)          # tension N
    f1 = np.sqrt(T / m) / (2 * L)
    k = np.arange(1, 5)[None, :]
    f = f1[:, None] * k * (1 + 0.5 * sag[:, None] * 40 / k)  # made-up sag stiffening
    f *= np.exp(rng.normal(0, 0.01, f.shape))
    geo = np.stack([np.log(L), np.log(m), sag * 100], 1)
    return geo, np.log(f), np.log(T)

def std(a, ref):
    return (a - ref.mean(0)) / ref.std(0)

# ---------------- stage 1: aux pre-training on simulated cables ----------------
g_sim, lf_sim, lt_sim = cables(8000)
feat_in = np.concatenate([g_sim, lf_sim[:, :1]], 1)      # geometry + measured f1
X1 = mx.array(std(feat_in, feat_in).astype(np.float32))
Y1 = mx.array(std(lf_sim, lf_sim).astype(np.float32))

class FeatureNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(4, 64)
        self.l2 = nn.Linear(64, 64)
    def __call__(self, x):
        return nn.gelu(self.l2(nn.gelu(self.l1(x))))

class AuxModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = FeatureNet()
        self.out = nn.Linear(64, 4)
    def __call__(self, x):
        return self.out(self.features(x))

mx.random.seed(0)
aux = AuxModel()
opt1 = optim.Adam(learning_rate=2e-3)
vag1 = nn.value_and_grad(aux, lambda mdl, x, y: nn.losses.mse_loss(mdl(x), y))
_, g = vag1(aux, X1[:100], Y1[:100])
fl = tree_flatten(g)
print("stage 1  pre-training feature net on %d simulated cables  (leaves=%d zero-grad=%d)"
      % (X1.shape[0], len(fl), sum(float(mx.abs(v).max()) == 0 for _, v in fl)))
print("%-8s %-8s %-12s %-8s" % ("stage", "epoch", "aux_mse", "secs"))
t0 = time.time()
for ep in range(1, 11):
    perm = mx.array(rng.permutation(X1.shape[0]))
    tot = 0.0
    for i in range(0, X1.shape[0], 100):
        idx = perm[i:i + 100]
        loss, g = vag1(aux, X1[idx], Y1[idx])
        opt1.update(aux, g)
        mx.eval(aux.parameters(), opt1.state, loss)
        tot += loss.item()
    print("%-8s %-8d %-12.5f %-8.1f" % ("aux", ep, tot / 80, time.time() - t0))
feat_path = os.path.join(workdir, "feature_net.safetensors")
aux.features.save_weights(feat_path)
print("saved feature net ->", os.path.basename(feat_path))

# ---------------- stage 2: tension head on a small field set ----------------
g_f, lf_f, lt_f = cables(600)
g_v, lf_v, lt_v = cables(400)
fin_f = np.concatenate([g_f, lf_f[:, :1]], 1)
fin_v = np.concatenate([g_v, lf_v[:, :1]], 1)
X2 = mx.array(std(fin_f, feat_in).astype(np.float32))     # same scaling as stage 1
Xv = mx.array(std(fin_v, feat_in).astype(np.float32))
tmu, tsd = lt_f.mean(), lt_f.std()
Y2 = mx.array(((lt_f - tmu) / tsd).astype(np.float32))
Tv = lt_v

class TensionModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = FeatureNet()
        self.head = nn.Sequential(nn.Linear(64, 32), nn.GELU(), nn.Linear(32, 1))
    def __call__(self, x):
        return self.head(self.features(x)).squeeze(-1)

def build():
    mdl = TensionModel()
    mdl.features.load_weights(feat_path)
    mdl.features.freeze()                      # frozen on purpose: only the head trains
    return mdl

def make_opt():
    sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 100),
                                  optim.cosine_decay(3e-3, 500, 1e-4)], [100])
    return optim.AdamW(learning_rate=sched, weight_decay=1e-3)

def loss_fn(mdl, x, y):
    return nn.losses.huber_loss(mdl(x), y, delta=1.0, reduction="mean")

def val_mape(mdl):
    pred = np.array(mdl(Xv)) * tsd + tmu
    return float(np.mean(np.abs(np.exp(pred - Tv) - 1)) * 100)

mx.random.seed(1)
model = build()
opt = make_opt()
vag = nn.value_and_grad(model, loss_fn)
_, g = vag(model, X2[:64], Y2[:64])
fl = tree_flatten(g)
print("stage 2  field set=%d valid=%d  trainable leaves=%d zero-grad leaves=%d frozen leaves=%d"
      % (X2.shape[0], Xv.shape[0], len(fl), sum(float(mx.abs(v).max()) == 0 for _, v in fl),
         len(tree_flatten(model.features.parameters()))))
print("stage 2  valid tension MAPE before training: %.2f%%  (predict-mean: %.2f%%)"
      % (val_mape(model), float(np.mean(np.abs(np.exp(tmu - Tv) - 1)) * 100)))
print("%-8s %-8s %-12s %-12s %-10s %-8s" % ("stage", "step", "huber", "valid_mape%", "lr", "secs"))

def train(mdl, opt, start, stop):
    vag = nn.value_and_grad(mdl, loss_fn)
    win = []
    for step in range(start + 1, stop + 1):
        idx = mx.array(rng.choice(X2.shape[0], 64, replace=False))
        lr_now = opt.learning_rate.item()
        loss, g = vag(mdl, X2[idx], Y2[idx])
        opt.update(mdl, g)
        mx.eval(mdl.trainable_parameters(), opt.state, loss)
        win.append(loss.item())
        if step == 1 or step % 50 == 0:
            print("%-8s %-8d %-12.5f %-12.2f %-10.2e %-8.1f"
                  % ("head", step, sum(win) / len(win), val_mape(mdl), lr_now, time.time() - t0))
            win = []

train(model, opt, 0, 300)
ck = os.path.join(workdir, "head_step300")
model.head.save_weights(ck + ".safetensors")
mx.save_safetensors(ck + "_opt.safetensors", dict(tree_flatten(opt.state)))
print("checkpoint written at step 300; session ends")

# ---- second session: rebuild everything from disk and resume ----
del model, opt
model = build()
model.head.load_weights(ck + ".safetensors")
opt = make_opt()
opt.state = tree_unflatten(list(mx.load(ck + "_opt.safetensors").items()))
print("resumed from step %d, valid MAPE %.2f%%" % (opt.state["step"].item(), val_mape(model)))
train(model, opt, 300, 600)
print("final valid tension MAPE %.2f%%, total %.1fs" % (val_mape(model), time.time() - t0))
shutil.rmtree(workdir)
