"""Apiary records: does a varroa treatment strip raise a colony's honey yield?

Observational data: beekeepers strip the colonies they think are weakest, so the
treated and untreated groups differ before treatment.  A three-headed network
(shared trunk, one yield head per arm, one head for the chance of being stripped)
is fitted; after a warm-up stage a targeted-regularisation term with a learned
scalar epsilon is switched on.  Halfway through stage 2 the run is checkpointed,
the process state is rebuilt from disk, and training continues.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
N_TRAIN, N_HELD = 3000, 1000
N_FEAT = 8

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def make_apiary(n):
    x = rng.normal(size=(n, N_FEAT)).astype(np.float32)
    # x0 mite count, x1 frames of brood, x2 forage index, x3 queen age, others nuisance
    logit = 0.9 * x[:, 0] - 0.7 * x[:, 1] + 0.4 * x[:, 3] - 0.2
    e = 1.0 / (1.0 + np.exp(-logit))
    e = np.clip(e, 0.06, 0.94)
    t = (rng.uniform(size=n) < e).astype(np.float32)
    y0 = 20.0 + 3.0 * x[:, 1] + 2.0 * np.tanh(x[:, 2]) - 2.5 * x[:, 0] - 0.8 * x[:, 3] ** 2
    tau = 4.0 + 2.0 * np.maximum(x[:, 0], 0.0) - 1.0 * x[:, 2]
    y1 = y0 + tau
    noise = rng.normal(scale=1.5, size=n).astype(np.float32)
    y = np.where(t > 0, y1, y0) + noise
    return x, t, y.astype(np.float32), y0.astype(np.float32), y1.astype(np.float32), e


x_tr, t_tr, y_tr, y0_tr, y1_tr, e_tr = make_apiary(N_TRAIN)
x_te, t_te, y_te, y0_te, y1_te, e_te = make_apiary(N_HELD)

y_mean, y_std = float(y_tr.mean()), float(y_tr.std())


class ThreeHeadNet(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Linear(d_in, width), nn.SiLU(),
            nn.Linear(width, width), nn.SiLU(),
        )
        self.head0 = nn.Sequential(nn.Linear(width, 32), nn.SiLU(), nn.Linear(32, 1))
        self.head1 = nn.Sequential(nn.Linear(width, 32), nn.SiLU(), nn.Linear(32, 1))
        self.treat_head = nn.Linear(width, 1)
        self.epsilon = mx.zeros((1,))

    def __call__(self, x):
        z = self.trunk(x)
        q0 = self.head0(z).squeeze(-1)
        q1 = self.head1(z).squeeze(-1)
        g_logit = self.treat_head(z).squeeze(-1)
        return q0, q1, g_logit


def loss_parts(model, x, t, y_std_units, tr_weight):
    q0, q1, g_logit = model(x)
    q_fact = t * q1 + (1.0 - t) * q0
    outcome = mx.mean((q_fact - y_std_units) ** 2)
    treat_bce = mx.mean(nn.losses.binary_cross_entropy(g_logit, t, with_logits=True, reduction="none"))
    g = mx.clip(mx.sigmoid(g_logit), 0.01, 0.99)
    h = t / g - (1.0 - t) / (1.0 - g)
    y_pert = q_fact + model.epsilon * h
    targeted = mx.mean((y_std_units - y_pert) ** 2)
    total = outcome + 1.0 * treat_bce + tr_weight * targeted
    return total, (outcome, treat_bce, targeted)


def total_loss(model, x, t, y, tr_weight):
    total, _ = loss_parts(model, x, t, y, tr_weight)
    return total


def effect_report(model, x, t, y_raw, y0_true, y1_true):
    q0, q1, g_logit = model(mx.array(x))
    q0 = np.array(q0) * y_std + y_mean
    q1 = np.array(q1) * y_std + y_mean
    g = np.clip(np.array(mx.sigmoid(g_logit)), 0.01, 0.99)
    eps = float(model.epsilon.item()) * y_std
    plug_in = float(np.mean(q1 - q0))
    # targeted estimate: plug-in shifted by the fitted epsilon along the clever covariate
    targeted = float(np.mean((q1 + eps / g) - (q0 - eps / (1 - g))))
    true_ate = float(np.mean(y1_true - y0_true))
    pehe = float(np.sqrt(np.mean(((q1 - q0) - (y1_true - y0_true)) ** 2)))
    naive = float(y_raw[t > 0].mean() - y_raw[t == 0].mean())
    const_pehe = float(np.sqrt(np.mean((true_ate - (y1_true - y0_true)) ** 2)))
    treat_auc_proxy = float(np.mean((g > 0.5) == (t > 0)))
    return dict(true=true_ate, naive=naive, plug_in=plug_in, targeted=targeted,
                pehe=pehe, const_pehe=const_pehe, treat_acc=treat_auc_proxy)


def save_checkpoint(path, model, optimizer, step):
    mx.save_safetensors(os.path.join(path, "weights.safetensors"), dict(tree_flatten(model.parameters())))
    mx.save_safetensors(os.path.join(path, "optim.safetensors"), dict(tree_flatten(optimizer.state)))
    with open(os.path.join(path, "step.txt"), "w") as f:
        f.write(str(step))


def load_checkpoint(path, model, optimizer):
    w = mx.load(os.path.join(path, "weights.safetensors"))
    model.update(tree_unflatten(list(w.items())))
    s = mx.load(os.path.join(path, "optim.safetensors"))
    optimizer.state = tree_unflatten(list(s.items()))
    with open(os.path.join(path, "step.txt")) as f:
        return int(f.read())


BATCH = 128
STAGE1_STEPS = 500
STAGE2_STEPS = 700
TOTAL = STAGE1_STEPS + STAGE2_STEPS
WARM = 100
LR = 2e-3

schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, LR, WARM), optim.cosine_decay(LR, TOTAL - WARM, 1e-4)],
    [WARM],
)


def build():
    m = ThreeHeadNet(N_FEAT)
    mx.eval(m.parameters())
    o = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)
    return m, o


model, optimizer = build()
xs = mx.array(x_tr)
ts = mx.array(t_tr)
ys = mx.array((y_tr - y_mean) / y_std)

print(f"apiary records: {N_TRAIN} train colonies ({int(t_tr.sum())} stripped), {N_HELD} held-out")
r0 = effect_report(model, x_te, t_te, y_te, y0_te, y1_te)
print(f"true held-out effect {r0['true']:.2f} kg | difference in means {r0['naive']:.2f} kg (confounded)")

ckpt_dir = tempfile.mkdtemp()
RESUME_AT = STAGE1_STEPS + 350
step = 0
t_start = time.time()
order = np.arange(N_TRAIN)


def run_steps(model, optimizer, step_from, step_to, tr_weight, log_every):
    vg = nn.value_and_grad(model, total_loss)
    step = step_from
    while step < step_to:
        np.random.default_rng(SEED + step).shuffle(order)
        for i in range(0, N_TRAIN - BATCH + 1, BATCH):
            if step >= step_to:
                break
            idx = mx.array(order[i:i + BATCH])
            loss, grads = vg(model, xs[idx], ts[idx], ys[idx], tr_weight)
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state)
            step += 1
            if log_every and (step % log_every == 0 or step == 1):
                total, (o, b, tg) = loss_parts(model, xs, ts, ys, tr_weight)
                lr = float(optimizer.learning_rate.item())
                print(f"step {step:5d} lr {lr:.2e} total {total.item():.4f} "
                      f"outcome {o.item():.4f} treat-bce {b.item():.4f} targeted {tg.item():.4f} "
                      f"eps {model.epsilon.item():+.4f}")
    return step


print("stage 1: outcome + treatment heads (targeted term off)")
step = run_steps(model, optimizer, 0, STAGE1_STEPS, 0.0, 100)
r1 = effect_report(model, x_te, t_te, y_te, y0_te, y1_te)
print(f"after stage 1: plug-in {r1['plug_in']:.2f} kg, PEHE {r1['pehe']:.2f} "
      f"(constant-effect baseline {r1['const_pehe']:.2f}), treat acc {r1['treat_acc']:.3f}")

print("stage 2: targeted regularisation on (total loss jumps by construction)")
step = run_steps(model, optimizer, step, RESUME_AT, 1.0, 0)  # quiet stretch
save_checkpoint(ckpt_dir, model, optimizer, step)
print(f"checkpoint written at step {step}; rebuilding model and optimizer from disk")
del model, optimizer
model, optimizer = build()
step = load_checkpoint(ckpt_dir, model, optimizer)
mx.eval(model.parameters(), optimizer.state)
print(f"resumed at step {step}, lr {optimizer.learning_rate.item():.2e}")
step = run_steps(model, optimizer, step, TOTAL, 1.0, 50)

r2 = effect_report(model, x_te, t_te, y_te, y0_te, y1_te)
held_total, (ho, hb, htg) = loss_parts(model, mx.array(x_te), mx.array(t_te),
                                       mx.array((y_te - y_mean) / y_std), 1.0)
print(f"held-out: outcome mse {ho.item():.4f} (noise floor ~{(1.5 / y_std) ** 2:.4f}) treat-bce {hb.item():.4f}")
print(f"effect (kg honey): true {r2['true']:.2f} | naive {r2['naive']:.2f} | "
      f"plug-in {r2['plug_in']:.2f} | targeted {r2['targeted']:.2f}")
print(f"PEHE {r2['pehe']:.2f} vs constant-effect baseline {r2['const_pehe']:.2f}")
print(f"done in {time.time() - t_start:.1f}s")
