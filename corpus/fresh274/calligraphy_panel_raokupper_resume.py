# Calligraphy competition: learn a quality score for each submitted piece from
# judges' head-to-head verdicts (left better / right better / "can't separate").
# Stage 1 fits plain Bradley-Terry on the decisive verdicts only; stage 2 adds
# the tied verdicts with a Rao-Kupper threshold. A checkpoint is written half-way
# through stage 2 and the run continues from a fresh model loaded from it.
import os
import tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)

N_PIECES, N_FEAT = 600, 8
feats = rng.normal(size=(N_PIECES, N_FEAT)).astype(np.float32)
w_true = np.array([1.2, -0.8, 0.6, 0.0, 0.9, -0.4, 0.3, 0.0], np.float32)
quality = feats @ w_true + 0.7 * np.sin(2.0 * feats[:, 0]) + 0.5 * feats[:, 1] * feats[:, 4]
quality = (quality - quality.mean()) / quality.std() * 1.5

ETA_TRUE = 0.6
def make_verdicts(n):
    i = rng.integers(0, N_PIECES, n)
    j = rng.integers(0, N_PIECES, n)
    keep = i != j
    i, j = i[keep], j[keep]
    d = quality[i] - quality[j]
    u = rng.random(len(i))
    p_left = 1 / (1 + np.exp(-(d - ETA_TRUE)))
    p_right = 1 / (1 + np.exp(-(-d - ETA_TRUE)))
    out = np.where(u < p_left, 0, np.where(u < p_left + p_right, 1, 2))  # 0 left, 1 right, 2 tie
    return i.astype(np.int32), j.astype(np.int32), out.astype(np.int32)

tr_i, tr_j, tr_y = make_verdicts(16000)
va_i, va_j, va_y = make_verdicts(3000)
print(f"verdicts: train {len(tr_y)} (ties {np.mean(tr_y == 2):.1%}), val {len(va_y)}")

class Scorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(N_FEAT, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.head = nn.Linear(64, 1, bias=False)
        self.tie_raw = mx.array([-1.0])

    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)

    def eta(self):
        return nn.softplus(self.tie_raw)[0]

X = mx.array(feats)

def bt_loss(model, i, j, y):
    s = model(X)
    d = s[i] - s[j]
    sign = 1.0 - 2.0 * y.astype(mx.float32)  # +1 when left won, -1 when right won
    return -nn.log_sigmoid(sign * d).mean()

def rk_loss(model, i, j, y):
    s = model(X)
    d = s[i] - s[j]
    eta = model.eta()
    lp_left = nn.log_sigmoid(d - eta)
    lp_right = nn.log_sigmoid(-d - eta)
    p_tie = mx.maximum(1.0 - mx.exp(lp_left) - mx.exp(lp_right), 1e-6)
    lp = mx.where(y == 0, lp_left, mx.where(y == 1, lp_right, mx.log(p_tie)))
    return -lp.mean()

STEPS1, STEPS2, WARM, BS, PEAK = 500, 700, 120, 512, 3e-3
RESUME_AT = STEPS1 + 350

def lr_at(step):
    if step < WARM:
        return PEAK * step / WARM  # exactly 0 at step 0
    frac = (step - WARM) / (STEPS1 + STEPS2 - WARM)
    return PEAK * 0.5 * (1 + np.cos(np.pi * frac))

def evaluate(model):
    s = np.array(model(X))
    d = s[va_i] - s[va_j]
    eta = float(model.eta())
    dec = va_y != 2
    acc = np.mean((d[dec] > 0) == (va_y[dec] == 0))
    oracle = np.mean(((quality[va_i] - quality[va_j])[dec] > 0) == (va_y[dec] == 0))
    pred_tie = np.abs(d) < eta
    tie_rec = np.mean(pred_tie[va_y == 2]) if np.any(va_y == 2) else 0.0
    rs = np.argsort(np.argsort(s)); rq = np.argsort(np.argsort(quality))
    rho = np.corrcoef(rs, rq)[0, 1]
    return acc, oracle, tie_rec, rho, eta

model = Scorer()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=0.0)

dec_idx = np.where(tr_y != 2)[0]
all_idx = np.arange(len(tr_y))

def run_steps(model, opt, start, stop, loss_fn, pool, tag):
    step_fn = nn.value_and_grad(model, loss_fn)
    run, cnt = 0.0, 0
    for step in range(start, stop):
        opt.learning_rate = lr_at(step)
        b = rng.choice(pool, BS, replace=False)
        loss, g = step_fn(model, mx.array(tr_i[b]), mx.array(tr_j[b]), mx.array(tr_y[b]))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        cnt += 1
        if (step + 1) % 100 == 0:
            acc, oracle, tie_rec, rho, eta = evaluate(model)
            print(f"[{tag}] step {step+1:5d} lr {lr_at(step):.2e} loss {run/cnt:.4f} | "
                  f"val pair acc {acc:.3f} (coin 0.500, oracle {oracle:.3f}) spearman {rho:.3f} "
                  f"eta {eta:.3f} tie recall {tie_rec:.3f}")
            run, cnt = 0.0, 0

acc, oracle, tie_rec, rho, eta = evaluate(model)
print(f"init: val pair acc {acc:.3f} spearman {rho:+.3f}")
print("stage 1: Bradley-Terry on decisive verdicts, warm-up from lr 0")
run_steps(model, opt, 0, STEPS1, bt_loss, dec_idx, "bt")
print("stage 2: Rao-Kupper on all verdicts (ties included)")
run_steps(model, opt, STEPS1, RESUME_AT, rk_loss, all_idx, "rk")

ckdir = tempfile.mkdtemp()
model.save_weights(os.path.join(ckdir, "scorer.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"checkpoint written at step {RESUME_AT}")

model = Scorer()
model.load_weights(os.path.join(ckdir, "scorer.safetensors"))
opt = optim.Adam(learning_rate=0.0)
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
mx.eval(model.parameters())
acc, oracle, tie_rec, rho, eta = evaluate(model)
print(f"resumed from step {RESUME_AT}: val pair acc {acc:.3f} spearman {rho:.3f} eta {eta:.3f}")
run_steps(model, opt, RESUME_AT, STEPS1 + STEPS2, rk_loss, all_idx, "rk")

acc, oracle, tie_rec, rho, eta = evaluate(model)
print(f"final: val pair acc {acc:.3f} (oracle {oracle:.3f}), spearman {rho:.3f}, "
      f"eta {eta:.3f} (panel threshold {ETA_TRUE}), tie recall {tie_rec:.3f}")
