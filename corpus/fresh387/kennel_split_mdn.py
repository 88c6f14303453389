import atexit, json, math, os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

# sled-dog race checkpoints: minutes per 10 km leg from 6 trail/team readings
rng = np.random.default_rng(7)
N = 6000
snow = rng.uniform(0, 1, N)          # fresh snow depth (scaled)
temp = rng.uniform(-35, 0, N)        # air temperature C
climb = rng.uniform(0, 1, N)         # climb fraction
dogs = rng.integers(6, 15, N)        # dogs in harness
rest = rng.uniform(0, 8, N)          # hours rested before leg
night = rng.integers(0, 2, N)        # night run flag
base = 28 + 14 * snow + 9 * climb - 0.6 * (dogs - 10) - 1.1 * np.minimum(rest, 4) + 0.08 * np.abs(temp + 18)
stall = rng.uniform(0, 1, N) < (0.08 + 0.15 * night * snow)  # tangles / off-trail detours
y = base + rng.normal(0, 1.5, N) + stall * rng.gamma(3.0, 4.0, N)
X = np.stack([snow, temp, climb, dogs, rest, night], 1).astype(np.float32)
mu, sd = X.mean(0), X.std(0)
X = (X - mu) / sd
ym, ys = y.mean(), y.std()
Y = ((y - ym) / ys).astype(np.float32)
Xtr, Ytr, Xva, Yva = mx.array(X[:5000]), mx.array(Y[:5000]), mx.array(X[5000:]), mx.array(Y[5000:])

K = 3
class MDN(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.head = nn.Linear(64, 3 * K)
    def __call__(self, x):
        h = self.head(self.trunk(x))
        return h[:, :K], h[:, K:2 * K], mx.clip(h[:, 2 * K:], -7, 4)

def nll(model, x, y):
    logit, m, logs = model(x)
    logpi = logit - mx.logsumexp(logit, axis=1, keepdims=True)
    z = (y[:, None] - m) * mx.exp(-logs)
    comp = -0.5 * z * z - logs - 0.5 * math.log(2 * math.pi)
    return -mx.logsumexp(logpi + comp, axis=1).mean()

mx.random.seed(3)
model = MDN()
steps = 2500
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 150), optim.cosine_decay(3e-3, steps - 150, 1e-5)], [150])
opt = optim.Adam(learning_rate=sched)
lg = nn.value_and_grad(model, nll)

logdir = tempfile.mkdtemp(prefix="kennel_")
logpath = os.path.join(logdir, "train.jsonl")
fh = open(logpath, "w")
summary = {}

@atexit.register
def report():
    fh.close()
    rows = [json.loads(l) for l in open(logpath)]
    print(f"log file {logpath}: {len(rows)} records")
    print(f"{'step':>6} {'lr':>9} {'train_nll':>10} {'val_nll':>9} {'val_mae_min':>11}")
    for r in rows[:: max(1, len(rows) // 10)] + rows[-1:]:
        print(f"{r['step']:>6} {r['lr']:>9.2e} {r['train_nll']:>10.4f} {r['val_nll']:>9.4f} {r['val_mae_min']:>11.2f}")
    for k, v in summary.items():
        print(f"{k}: {v}")

g_first = None
t0 = time.time()
window = []
for step in range(1, steps + 1):
    idx = mx.array(rng.integers(0, 5000, 128))
    loss, grads = lg(model, Xtr[idx], Ytr[idx])
    if step == 1:
        from mlx.utils import tree_flatten
        g_first = sum(int(mx.all(g == 0).item()) for _, g in tree_flatten(grads))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    if step % 50 == 0:
        vn = nll(model, Xva, Yva).item()
        logit, m, logs = model(Xva)
        pi = mx.softmax(logit, axis=1)
        med = (pi * m).sum(1)  # mixture mean
        mae = mx.abs(med - Yva).mean().item() * ys
        fh.write(json.dumps(dict(step=step, lr=float(sched(mx.array(step - 1))), train_nll=float(np.mean(window)), val_nll=vn, val_mae_min=mae)) + "\n")
        window = []

gauss_nll = 0.5 * math.log(2 * math.pi * float(Yva.var().item())) + 0.5
summary["zero-gradient leaves at step 1"] = g_first
summary["single-Gaussian val NLL (standardised)"] = round(gauss_nll, 4)
summary["mean-guess val MAE (min)"] = round(float(np.abs(y[5000:] - y[:5000].mean()).mean()), 2)
summary["seconds"] = round(time.time() - t0, 1)
