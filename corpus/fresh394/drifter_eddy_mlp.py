# Ocean drifter tracks in a rotating eddy field: an MLP predicts the next
# displacement (km per 3 h) from the last three displacements and position.
# Scheduled sampling at track level: each track in a batch is rolled out on its
# own predictions with probability 1 - f, where f = 0.992**iter after a
# 150-iteration fully forced stage.
import csv, sys, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(21)
mx.random.seed(21)
T, CTX = 28, 3

def tracks(n):
    out = np.zeros((n, T, 2), np.float32)
    for i in range(n):
        cx, cy = rng.uniform(-20, 20, 2); om = rng.uniform(0.15, 0.3) * rng.choice([-1, 1])
        p = np.array([cx, cy]) + rng.uniform(5, 25, 2) * rng.choice([-1, 1], 2)
        wind = rng.normal(0, 0.4, 2)
        for t in range(T):
            out[i, t] = p
            r = p - np.array([cx, cy])
            v = om * np.array([-r[1], r[0]]) * np.exp(-np.dot(r, r) / 900) + wind
            p = p + v + rng.normal(0, 0.15, 2)
    return out

class StepNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2 * CTX + 2, 96), nn.Tanh(), nn.Linear(96, 96), nn.Tanh(), nn.Linear(96, 2))
    def __call__(self, pos, deltas):
        return deltas[:, -1] + self.body(mx.concatenate([pos / 30.0, deltas.reshape(deltas.shape[0], -1)], axis=1))

def rollout(model, tr, own_mask):
    pos = tr[:, CTX]
    d = tr[:, 1:CTX + 1] - tr[:, :CTX]
    errs = []
    for t in range(CTX, T - 1):
        pd = model(pos, d)
        gold = tr[:, t + 1] - tr[:, t]
        errs.append(mx.sum((pd - gold) ** 2, axis=1))
        use = mx.where(own_mask[:, None], mx.stop_gradient(pd), gold)
        pos = pos + use
        d = mx.concatenate([d[:, 1:], use[:, None]], axis=1)
    return mx.stack(errs, 1)

def loss_fn(model, tr, own_mask):
    return mx.mean(rollout(model, tr, own_mask))

def free_km(model, tr):
    pd_pos = tr[:, CTX]; d = tr[:, 1:CTX + 1] - tr[:, :CTX]
    for t in range(CTX, T - 1):
        step = model(pd_pos, d); pd_pos = pd_pos + step
        d = mx.concatenate([d[:, 1:], step[:, None]], axis=1)
    return mx.mean(mx.sqrt(mx.sum((pd_pos - tr[:, -1]) ** 2, axis=1))).item()

train = mx.array(tracks(3000)); test = mx.array(tracks(400))
cv = test[:, CTX] + (T - 1 - CTX) * (test[:, CTX] - test[:, CTX - 1])
cv_km = mx.mean(mx.sqrt(mx.sum((cv - test[:, -1]) ** 2, axis=1))).item()
stay_km = mx.mean(mx.sqrt(mx.sum((test[:, CTX] - test[:, -1]) ** 2, axis=1))).item()

model = StepNet()
opt = optim.SGD(learning_rate=optim.step_decay(0.02, 0.5, 300), momentum=0.9, nesterov=True)
vg = nn.value_and_grad(model, loss_fn)
w = csv.writer(sys.stdout, lineterminator="\n")
w.writerow(["# constant-velocity end error km", f"{cv_km:.2f}", "stay-put km", f"{stay_km:.2f}", "untrained km", f"{free_km(model, test):.2f}"])
w.writerow(["iter", "stage", "forced_share", "lr", "train_sq_km_per_step", "gnorm", "test_end_err_km", "sec"])
t0 = time.time(); win = []; gn = []
FORCED, TOTAL, BS = 150, 900, 64
for it in range(1, TOTAL + 1):
    f = 1.0 if it <= FORCED else 0.992 ** (it - FORCED)
    own = mx.array(rng.random(BS) >= f)
    idx = mx.array(rng.integers(0, 3000, BS))
    lr = opt.learning_rate.item()
    loss, g = vg(model, train[idx], own)
    g, norm = optim.clip_grad_norm(g, 5.0)
    if it == 1:
        leaves = tree_flatten(g)
        w.writerow(["# first step grads", len(leaves), "nonzero", sum(1 for _, a in leaves if mx.any(a != 0).item())])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss, norm)
    win.append(loss.item()); gn.append(norm.item())
    if it % 75 == 0 and it > FORCED:
        w.writerow([it, "scheduled", f"{f:.3f}", f"{lr:.4f}", f"{np.mean(win):.4f}", f"{np.mean(gn):.2f}", f"{free_km(model, test):.2f}", f"{time.time()-t0:.1f}"])
        win, gn = [], []
    elif it == FORCED:
        w.writerow([it, "forced", "1.000", f"{lr:.4f}", f"{np.mean(win[-75:]):.4f}", f"{np.mean(gn[-75:]):.2f}", f"{free_km(model, test):.2f}", f"{time.time()-t0:.1f}"])
        win, gn = [], []
w.writerow(["# done", "test end error km", f"{free_km(model, test):.2f}", "constant-velocity km", f"{cv_km:.2f}"])
