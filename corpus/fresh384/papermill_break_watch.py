"""Paper machine: will the sheet break within the next ten minutes?

Training runs as two sessions in one process: session 1 stops at a step
budget and writes a checkpoint (weights, optimizer state, counters); session 2
builds a fresh model and optimizer, loads the checkpoint and carries on until
early stopping. Validation every 100 steps; the best weights are reloaded for
the test, which is printed beside a prevalence baseline and a numpy logistic
regression.
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(3841)
mx.random.seed(3841)
T0 = time.time()


def log(**kv):
    parts = ["t=%.1f" % (time.time() - T0)]
    for k, v in kv.items():
        if isinstance(v, float):
            v = "%.4f" % v
        elif isinstance(v, str) and " " in v:
            v = '"%s"' % v
        parts.append("%s=%s" % (k, v))
    print(" ".join(parts), flush=True)


def reels(n):
    speed = rng.normal(1100, 80, n)          # m/min
    draw = rng.normal(1.5, 0.4, n)           # press-to-dryer draw %
    moist = rng.normal(7.5, 1.2, n)          # reel moisture %
    basis = rng.normal(80, 6, n)             # g/m2
    felt_age = rng.gamma(3, 6, n)            # days
    steam = rng.normal(3.2, 0.5, n)          # bar
    ash = rng.normal(18, 3, n)               # filler %
    shive = rng.poisson(2.0, n).astype(float)  # shives per m2
    tension_sd = rng.gamma(2, 0.4, n)
    logit = (-4.3 + 1.1 * (draw - 1.5) / 0.4 + 0.9 * (speed - 1100) / 80
             + 0.7 * np.maximum(moist - 8.5, 0) + 0.45 * shive - 0.5 * (basis - 80) / 6
             + 0.035 * felt_age + 1.4 * (tension_sd - 0.8) + 0.4 * ((ash - 18) / 3) ** 2
             - 0.2 * (steam - 3.2))
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    X = np.stack([speed, draw, moist, basis, felt_age, steam, ash, shive, tension_sd], 1)
    return X.astype(np.float32), y


Xtr, ytr = reels(12000)
Xva, yva = reels(3000)
Xte, yte = reels(3000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Ztr, Zva, Zte = ((X - mu) / sd for X in (Xtr, Xva, Xte))
Xtr_m, Xva_m, Xte_m = mx.array(Ztr), mx.array(Zva), mx.array(Zte)
ytr_m = mx.array(ytr)
POS_W = float((1 - ytr.mean()) / ytr.mean()) ** 0.5


def auroc(score, y):
    order = np.argsort(score)
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    npos = y.sum()
    return float((ranks[y == 1].sum() - npos * (npos + 1) / 2) / (npos * (len(y) - npos)))


def brier(p, y):
    return float(np.mean((p - y) ** 2))


class BreakNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(9, 64)
        self.hid = nn.Linear(64, 64)
        self.norm = nn.LayerNorm(64)
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = h + nn.gelu(self.hid(self.norm(h)))
        return self.head(h).squeeze(-1)


def weighted_bce(m, x, y):
    z = m(x)
    w = 1.0 + (POS_W - 1.0) * y
    return mx.mean(w * (nn.softplus(z) - y * z))


def schedule():
    warm = optim.linear_schedule(0.0, 2e-3, 150)
    cos = optim.cosine_decay(2e-3, 2850, 5e-5)
    return optim.join_schedules([warm, cos], [150])


def evaluate(m, X, y):
    p = np.array(mx.sigmoid(m(X)))
    return auroc(p, y), brier(p, y), p


def run_session(session, ckpt_dir, step_budget):
    model = BreakNet()
    opt = optim.AdamW(learning_rate=schedule(), weight_decay=1e-3)
    mx.eval(model.parameters())
    meta = {"step": 0, "best_auc": -1.0, "best_step": 0, "bad_evals": 0, "cursor": 0,
            "perm_seed": 11}
    if session > 1:
        model.load_weights(os.path.join(ckpt_dir, "last_model.safetensors"))
        opt.init(model.trainable_parameters())
        flat = mx.load(os.path.join(ckpt_dir, "last_opt.safetensors"))
        opt.state = tree_unflatten(list(flat.items()))
        with open(os.path.join(ckpt_dir, "last_meta.json")) as f:
            meta = json.load(f)
        mx.eval(model.parameters(), opt.state)
        log(event="resume", session=session, step=meta["step"], best_auc=meta["best_auc"],
            bad_evals=meta["bad_evals"], opt_step=int(opt.state["step"].item()))
    step_fn = nn.value_and_grad(model, weighted_bce)
    perm_rng = np.random.default_rng(meta["perm_seed"])
    perm = perm_rng.permutation(len(ytr))
    # skip the permutations already consumed before the checkpoint
    for _ in range(meta["cursor"] // len(ytr)):
        perm = perm_rng.permutation(len(ytr))
    cursor, step = meta["cursor"], meta["step"]
    BATCH, EVAL_EVERY, PATIENCE = 96, 100, 5
    window = []
    while True:
        pos = cursor % len(ytr)
        if pos + BATCH > len(ytr):
            cursor += len(ytr) - pos
            perm = perm_rng.permutation(len(ytr))
            continue
        idx = mx.array(perm[pos:pos + BATCH])
        lr = opt.learning_rate.item()
        loss, grads = step_fn(model, Xtr_m[idx], ytr_m[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        cursor += BATCH
        step += 1
        window.append(loss.item())
        if step % EVAL_EVERY == 0:
            auc, br, _ = evaluate(model, Xva_m, yva)
            improved = auc > meta["best_auc"] + 1e-4
            if improved:
                meta["best_auc"], meta["best_step"], meta["bad_evals"] = auc, step, 0
                model.save_weights(os.path.join(ckpt_dir, "best_model.safetensors"))
            else:
                meta["bad_evals"] += 1
            log(event="eval", session=session, step=step, lr=lr,
                train_wbce=float(np.mean(window)), val_auroc=auc, val_brier=br,
                best="yes" if improved else "no", bad_evals=meta["bad_evals"])
            window = []
            if meta["bad_evals"] >= PATIENCE:
                log(event="early_stop", session=session, step=step,
                    best_step=meta["best_step"], best_auc=meta["best_auc"])
                return meta
        if step_budget is not None and step >= step_budget:
            meta.update(step=step, cursor=cursor)
            model.save_weights(os.path.join(ckpt_dir, "last_model.safetensors"))
            mx.save_safetensors(os.path.join(ckpt_dir, "last_opt.safetensors"),
                                dict(tree_flatten(opt.state)))
            with open(os.path.join(ckpt_dir, "last_meta.json"), "w") as f:
                json.dump(meta, f)
            log(event="checkpoint", session=session, step=step,
                files=",".join(sorted(os.listdir(ckpt_dir))))
            return meta


log(event="data", train=len(ytr), val=len(yva), test=len(yte),
    break_rate_pct=100 * float(ytr.mean()), pos_weight=POS_W)
ckpt = tempfile.mkdtemp(prefix="pm_break_")
run_session(1, ckpt, step_budget=700)
meta = run_session(2, ckpt, step_budget=None)

final = BreakNet()
final.load_weights(os.path.join(ckpt, "best_model.safetensors"))
mx.eval(final.parameters())
auc_te, br_te, _ = evaluate(final, Xte_m, yte)

prev = np.full_like(yte, ytr.mean())
A = np.c_[Ztr, np.ones(len(Ztr))]
w = np.zeros(A.shape[1])
for _ in range(300):                      # numpy logistic regression, gradient descent
    p = 1 / (1 + np.exp(-A @ w))
    w -= 0.5 * A.T @ (p - ytr) / len(ytr)
p_lr = 1 / (1 + np.exp(-(np.c_[Zte, np.ones(len(Zte))] @ w)))
log(event="test", model="prevalence", auroc=0.5, brier=brier(prev, yte))
log(event="test", model="numpy_logreg", auroc=auroc(p_lr, yte), brier=brier(p_lr, yte))
log(event="test", model="breaknet_best", auroc=auc_te, brier=br_te,
    from_step=meta["best_step"])
for f in os.listdir(ckpt):
    os.remove(os.path.join(ckpt, f))
os.rmdir(ckpt)
log(event="done")
