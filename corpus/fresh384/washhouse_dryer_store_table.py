# Hourly dryer starts at 12 coin laundries (8 weeks of synthetic logs). One global model:
# store and hour-of-day embeddings + the last 24 hours (divided by the store's mean) ->
# log of next hour's rate. Poisson negative log-likelihood without the log(y!) term,
# so the printed loss is negative once rates are right. Training is split into two
# sessions: after session 1 the weights and optimizer state go to safetensors files,
# a new process-like rebuild (other seed) loads them and training carries on.
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
S, DAYS = 12, 56
H = DAYS * 24
hour = np.arange(H) % 24
dow = (np.arange(H) // 24) % 7
size = rng.uniform(1.5, 6.0, S)
profile = 0.15 + np.exp(-0.5 * ((hour - 10) / 2.5) ** 2) + 0.8 * np.exp(-0.5 * ((hour - 19) / 2.0) ** 2)
profile[(hour < 7) | (hour > 22)] *= 0.1
rain = np.repeat(rng.random(DAYS) < 0.3, 24)
rates = np.zeros((S, H))
for s in range(S):
    weekend = np.where(dow >= 5, 1.0 + rng.uniform(0.2, 0.8), 1.0)
    drift = np.exp(0.15 * np.sin(np.arange(H) / (24 * 9) + s))
    rates[s] = size[s] * profile * weekend * drift * np.where(rain, 1.4, 1.0)
counts = rng.poisson(rates).astype(np.float32)
store_mean = counts[:, : (DAYS - 7) * 24].mean(1) + 1e-3

W = 24
def windows(lo, hi):
    rows = [(s, t) for s in range(S) for t in range(max(lo, W), hi)]
    s_ = np.array([r[0] for r in rows]); t_ = np.array([r[1] for r in rows])
    lag = np.stack([counts[s_, t_ - k] for k in range(1, W + 1)], 1) / store_mean[s_, None]
    return (mx.array(s_), mx.array(hour[t_]), mx.array(lag.astype(np.float32)),
            mx.array(counts[s_, t_]), mx.array(store_mean[s_].astype(np.float32)), s_, t_)
split = (DAYS - 7) * 24
tr = windows(0, split)
te = windows(split, H)

class DryerNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.store = nn.Embedding(S, 6)
        self.hour = nn.Embedding(24, 6)
        self.body = nn.Sequential(nn.Linear(W + 12, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 1))
    def __call__(self, s, h, lag, m):
        z = mx.concatenate([self.store(s), self.hour(h), lag], axis=1)
        return self.body(z)[:, 0] + mx.log(m)

def poisson_nll(model, s, h, lag, y, m):
    lr_ = model(s, h, lag, m)
    return mx.mean(mx.exp(lr_) - y * lr_)

def make_opt():
    return optim.RMSprop(learning_rate=optim.step_decay(3e-3, 0.5, 400), alpha=0.95)

def train(model, opt, steps_from, steps_to):
    lg = nn.value_and_grad(model, poisson_nll)
    n = tr[0].shape[0]
    acc = []
    for step in range(steps_from, steps_to):
        b = mx.array(rng.integers(0, n, 256))
        loss, g = lg(model, *(a[b] for a in tr[:5]))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        acc.append(loss.item())
        if (step + 1) % 200 == 0:
            vl = poisson_nll(model, *te[:5]).item()
            print(f"  step {step + 1:5d}  poisson_nll(train, last 200) {np.mean(acc):+.4f}  "
                  f"poisson_nll(last week) {vl:+.4f}  lr {opt.learning_rate.item():.2e}")
            acc = []

t0 = time.time()
print(f"{S} stores x {DAYS} days hourly; {tr[0].shape[0]} training windows, {te[0].shape[0]} test windows")
mx.random.seed(3)
model = DryerNet(); opt = make_opt()
print(f"untrained poisson_nll(last week) {poisson_nll(model, *te[:5]).item():+.4f}")
print("session 1")
train(model, opt, 0, 800)
ckdir = tempfile.mkdtemp()
wpath = os.path.join(ckdir, "dryer_weights.safetensors"); opath = os.path.join(ckdir, "dryer_opt.safetensors")
model.save_weights(wpath)
mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
saved = {k: np.array(v) for k, v in tree_flatten(model.parameters())}
print(f"checkpoint written ({(os.path.getsize(wpath) + os.path.getsize(opath)) / 1024:.0f} KiB) at step {opt.step.item()}")

mx.random.seed(99)
model = DryerNet(); model.load_weights(wpath)
opt = make_opt(); opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(opath).items()))
gap = max(float(np.abs(np.array(v) - saved[k]).max()) for k, v in tree_flatten(model.parameters()))
print(f"session 2: resumed at step {opt.step.item()}, max |w - w_ckpt| {gap:.1e}, lr {opt.learning_rate.item():.2e}")
train(model, opt, 800, 1600)

s_, t_ = te[5], te[6]
pred = np.array(mx.exp(model(*te[:3], te[4])))
yt = np.array(te[3])
naive = counts[s_, t_ - 24]
print()
print("store | mean/h | MAE model | MAE same-hour-yesterday | skill %")
for s in range(S):
    k = s_ == s
    m1 = np.abs(pred[k] - yt[k]).mean(); m0 = np.abs(naive[k] - yt[k]).mean()
    print(f"{s:5d} | {store_mean[s]:6.2f} | {m1:9.3f} | {m0:23.3f} | {100 * (1 - m1 / m0):7.1f}")
m1 = np.abs(pred - yt).mean(); m0 = np.abs(naive - yt).mean()
orac = np.abs(rates[s_, t_] - yt).mean()
print(f"  all | {store_mean.mean():6.2f} | {m1:9.3f} | {m0:23.3f} | {100 * (1 - m1 / m0):7.1f}")
print(f"MAE of the true rates (floor) {orac:.3f}; wall {time.time() - t0:.1f}s")
