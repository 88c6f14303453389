# Dinghy heel angle in gusty wind as a neural SDE.
# d(theta) = a(theta) dt + s(theta) dW : the helm hikes back toward ~18 deg (drift), gusts kick
# harder the further she heels (diffusion). Learn a(.) and log s(.) from logged heel traces
# with the Euler-Maruyama transition likelihood. Three seeds, early stopping with restore.
import json, logging, math, sys
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("heel")

DT = 0.1  # s between logger samples

def true_drift(th):
    d = th - 18.0
    return -0.8 * d - 0.004 * d ** 3

def true_sigma(th):
    return 2.0 + 0.08 * np.abs(th)

def simulate(n_traj, n_steps, rng):
    th = rng.uniform(0.0, 35.0, size=n_traj)
    out = [th.copy()]
    sub = 10
    h = DT / sub
    for _ in range(n_steps):
        for _ in range(sub):
            th = th + true_drift(th) * h + true_sigma(th) * math.sqrt(h) * rng.standard_normal(n_traj)
        out.append(th.copy())
    return np.stack(out, 1)  # (n_traj, n_steps+1)

rng = np.random.default_rng(3)
tr = simulate(48, 250, rng)
va = simulate(12, 250, rng)
def pairs(x):
    return x[:, :-1].reshape(-1).astype(np.float32), x[:, 1:].reshape(-1).astype(np.float32)
x0_tr, x1_tr = pairs(tr)
x0_va, x1_va = map(mx.array, pairs(va))
SC = 20.0  # input scale for the nets

class HeelSDE(nn.Module):
    def __init__(self):
        super().__init__()
        self.drift = nn.Sequential(nn.Linear(1, 32), nn.SiLU(), nn.Linear(32, 32), nn.SiLU(), nn.Linear(32, 1))
        self.logsig = nn.Sequential(nn.Linear(1, 16), nn.SiLU(), nn.Linear(16, 1))

    def __call__(self, th):
        z = (th / SC - 0.9)[:, None]
        a = 10.0 * self.drift(z)[:, 0]
        ls = self.logsig(z)[:, 0] + 1.0
        return a, ls

def nll(model, x0, x1):
    a, ls = model(x0)
    var = mx.exp(2 * ls) * DT
    r = x1 - x0 - a * DT
    return mx.mean(0.5 * mx.log(2 * math.pi * var) + r * r / (2 * var))

check = np.array([5.0, 18.0, 30.0], dtype=np.float32)
ref = {"drift": [round(float(v), 2) for v in true_drift(check)],
       "sigma": [round(float(v), 2) for v in true_sigma(check)]}
# reference: NLL of the true law on the validation transitions
a_t = mx.array(true_drift(np.array(x0_va)).astype(np.float32))
s_t = mx.array(true_sigma(np.array(x0_va)).astype(np.float32))
ref_nll = float(mx.mean(0.5 * mx.log(2 * math.pi * s_t ** 2 * DT) + (x1_va - x0_va - a_t * DT) ** 2 / (2 * s_t ** 2 * DT)))

summary = []
for seed in (0, 1, 2):
    mx.random.seed(seed)
    brng = np.random.default_rng(100 + seed)
    model = HeelSDE()
    opt = optim.RMSprop(learning_rate=3e-3)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x0, x1):
        loss, g = nn.value_and_grad(model, nll)(model, x0, x1)
        opt.update(model, g)
        return loss

    # gradient audit before training
    _, g0 = nn.value_and_grad(model, nll)(model, mx.array(x0_tr[:512]), mx.array(x1_tr[:512]))
    dead = [k for k, v in nn.utils.tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
    log.info(json.dumps({"seed": seed, "event": "grad_audit", "tensors": len(nn.utils.tree_flatten(g0)), "zero": dead}))

    best, best_ep, bad, patience = float("inf"), -1, 0, 6
    best_params = None
    n = x0_tr.shape[0]
    for ep in range(60):
        perm = brng.permutation(n)
        tot = 0.0
        nb = 0
        for i in range(0, n, 1000):
            idx = perm[i:i + 1000]
            loss = step(mx.array(x0_tr[idx]), mx.array(x1_tr[idx]))
            mx.eval(state, loss)
            tot += float(loss); nb += 1
        v = float(nll(model, x0_va, x1_va))
        if v < best - 1e-4:
            best, best_ep, bad = v, ep, 0
            best_params = nn.utils.tree_map(lambda p: mx.array(p), model.parameters())
            mx.eval(best_params)
        else:
            bad += 1
        if ep % 3 == 0 or bad == 0 and ep < 3:
            log.info(json.dumps({"seed": seed, "epoch": ep, "train_nll": round(tot / nb, 4), "val_nll": round(v, 4),
                                 "ref_val_nll": round(ref_nll, 4), "patience_left": patience - bad}))
        if bad >= patience:
            log.info(json.dumps({"seed": seed, "event": "early_stop", "epoch": ep, "restore_epoch": best_ep}))
            break
    model.update(best_params)
    v_rest = float(nll(model, x0_va, x1_va))
    a, ls = model(mx.array(check))
    learned = {"drift": [round(float(x), 2) for x in a], "sigma": [round(float(x), 2) for x in mx.exp(ls)]}
    log.info(json.dumps({"seed": seed, "event": "restored", "val_nll": round(v_rest, 4), "best_val_nll": round(best, 4),
                         "at_deg": check.tolist(), "learned": learned, "reference": ref}))
    summary.append((seed, best_ep, v_rest, learned))

print("\nseed  best_ep  val_nll  (true-law ref %.4f)  drift@5/18/30        sigma@5/18/30" % ref_nll)
for s, be, v, l in summary:
    print(f"{s:>4}  {be:>7}  {v:7.4f}  {'':22}{str(l['drift']):20} {l['sigma']}")
print(f"ref              {'':29}{str(ref['drift']):20} {ref['sigma']}")
