# Disc golf drives: predict how far from the basket a drive lands (m) and whether it
# parks inside circle 1 (10 m), from release and wind features.
# Two training sessions with a checkpoint/resume in between (weights + AdamW state).
import json, os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
N = 3600
speed = rng.uniform(15, 21, N)          # release speed, m/s
revs = rng.uniform(200, 500, N)         # spin, rpm x 0.1 (tach reading)
angle = rng.uniform(-3, 3, N)           # nose angle, degrees
board = rng.uniform(1, 39, N)           # hyzer angle + 20, degrees
wind = rng.uniform(32, 47, N)           # headwind index (0.1 m/s + 30)
stab = rng.uniform(2, 10, N)            # disc stability (fade - turn + 5)
ideal = 10 + 0.55 * (wind - 32) - 0.012 * (revs - 350) + 0.8 * angle
miss = (board - ideal) / (2.0 + 0.15 * stab)
carry = 0.35 * np.tanh((speed - 17.5) / 1.5) * np.tanh((revs - 260) / 80)
dist = 60 - 60 / (1 + np.exp(-(2.2 - miss ** 2 + carry)))   # metres short/wide of basket
dist = np.clip(dist + rng.normal(0, 2.1, N), 0, 60)
parked = (dist < 10.0).astype(np.float32)
X = np.stack([speed, revs, angle, board, wind, stab], 1)
X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
Y = ((dist - 30.0) / 18.0).astype(np.float32)
tr, va = slice(0, 3000), slice(3000, N)
Xtr, Ytr, Str = mx.array(X[tr]), mx.array(Y[tr]), mx.array(parked[tr])
Xva, Yva, Sva = mx.array(X[va]), mx.array(Y[va]), mx.array(parked[va])
print(json.dumps({"event": "data", "train": 3000, "valid": N - 3000,
                  "c1_rate_pct": round(100 * float(parked.mean()), 1)}))


class DriveNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = [nn.Linear(6, 64), nn.Linear(64, 64)]
        self.dist_head = nn.Linear(64, 1)
        self.c1_head = nn.Linear(64, 1)

    def __call__(self, x):
        for l in self.trunk:
            x = nn.silu(l(x))
        return self.dist_head(x).squeeze(-1), self.c1_head(x).squeeze(-1)


def losses(model, x, y, s):
    p, logit = model(x)
    dist_mse = mx.mean((p - y) ** 2)
    bce = mx.mean(nn.losses.binary_cross_entropy(logit, s, with_logits=True))
    return dist_mse + 0.5 * bce, (dist_mse, bce)


def make_opt():
    warm = optim.linear_schedule(0.0, 3e-3, 120)   # starts at exactly 0
    decay = optim.cosine_decay(3e-3, 480, 1e-4)
    return optim.AdamW(learning_rate=optim.join_schedules([warm, decay], [120]),
                       weight_decay=1e-3)


def evaluate(model):
    p, logit = model(Xva)
    rmse_m = mx.sqrt(mx.mean((p - Yva) ** 2)) * 18.0
    acc = mx.mean(((logit > 0) == (Sva > 0.5)).astype(mx.float32)) * 100
    return float(rmse_m), float(acc)


def run_session(model, opt, session, n_steps, rng_b):
    vg = nn.value_and_grad(model, lambda m, x, y, s: losses(m, x, y, s))
    for it in range(1, n_steps + 1):
        idx = mx.array(rng_b.integers(0, 3000, 128))
        (tot, (pm, bc)), g = vg(model, Xtr[idx], Ytr[idx], Str[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, tot)
        if it == 1 and session == 1:
            gn = {k: float(mx.abs(v).sum()) for k, v in tree_flatten(g)}
            print(json.dumps({"event": "grad_audit", "zero_grad_tensors":
                              [k for k, v in gn.items() if v == 0.0],
                              "n_tensors": len(gn)}))
        if it % 30 == 0 or it == 1:
            rm, acc = evaluate(model)
            print(json.dumps({"session": session, "it": it,
                              "global_step": int(opt.state["step"]),
                              "lr": round(float(opt.learning_rate), 6),
                              "dist_mse": round(float(pm), 4), "c1_bce": round(float(bc), 4),
                              "val_dist_rmse_m": round(rm, 2), "val_c1_acc_pct": round(acc, 1),
                              "baseline_rmse_m": round(float(mx.std(Yva)) * 18.0, 2)}))


t0 = time.time()
mx.random.seed(3)
model = DriveNet()
opt = make_opt()
rng_b = np.random.default_rng(11)
run_session(model, opt, 1, 300, rng_b)

ckdir = tempfile.mkdtemp(prefix="drive_ck_")
wpath, opath = os.path.join(ckdir, "drive.safetensors"), os.path.join(ckdir, "adamw.safetensors")
model.save_weights(wpath)
mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
ref = dict(tree_flatten(model.parameters()))
print(json.dumps({"event": "checkpoint", "files": 2, "step": int(opt.state["step"])}))

# "new process": rebuild everything, then restore
mx.random.seed(999)
model = DriveNet()
model.load_weights(wpath)
opt = make_opt()
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(opath).items()))
mx.eval(model.parameters(), opt.state)
diff = max(float(mx.max(mx.abs(v - ref[k]))) for k, v in tree_flatten(model.parameters()))
print(json.dumps({"event": "resume_audit", "max_abs_param_diff": diff,
                  "restored_step": int(opt.state["step"])}))
run_session(model, opt, 2, 300, rng_b)
for f in (wpath, opath):
    os.remove(f)
os.rmdir(ckdir)
rm, acc = evaluate(model)
print(json.dumps({"event": "final", "val_dist_rmse_m": round(rm, 2),
                  "val_c1_acc_pct": round(acc, 1), "seconds": round(time.time() - t0, 2)}))
