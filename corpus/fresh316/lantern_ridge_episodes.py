"""Harbour lantern signatures: few-shot identification of lighthouse flash patterns.

Each lighthouse has its own (made-up) flash character; a reading is 32 numbers from a
photometer: 20 flash/eclipse/colour channels through haze noise plus 12 stray-light
channels that carry no identity.
Meta-training episodes: 5-way 3-shot, 6 queries per lighthouse.  Lighthouses used for
meta-testing are never seen during meta-training.

Head: differentiable closed-form ridge regression on the support embeddings (R2-D2
style, dual form W = X^T (X X^T + lam I)^-1 Y), the inverse computed by an unrolled
Newton-Schulz iteration so gradients flow back into the embedding network.  A learned
logit scale and bias calibrate the regression outputs.

Schedule: linear warmup of the meta learning rate from exactly 0 over 150 episodes,
then cosine decay.  At episode 600 the run writes a checkpoint, builds a brand-new
model + optimizer, loads the checkpoint and continues.
"""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = np.random.default_rng(316)
mx.random.seed(316)

N_HOUSES, D_LATENT, D_SIG, D_OBS = 320, 10, 20, 32
WAY, SHOT, QUERY = 5, 3, 6
TRAIN_HOUSES = np.arange(0, 240)
TEST_HOUSES = np.arange(240, 320)

proto = rng.normal(size=(N_HOUSES, D_LATENT)).astype(np.float32)
mix1 = rng.normal(size=(D_LATENT, 32)).astype(np.float32) / math.sqrt(D_LATENT)
mix2 = rng.normal(size=(32, D_SIG)).astype(np.float32) / math.sqrt(32)


def readings(house_ids):
    z = proto[house_ids] + 0.8 * rng.normal(size=(len(house_ids), D_LATENT)).astype(np.float32)
    x = np.tanh(z @ mix1) @ mix2 + 0.08 * rng.normal(size=(len(house_ids), D_SIG))
    glare = 1.5 * rng.normal(size=(len(house_ids), D_OBS - D_SIG))  # stray-light channels
    return np.concatenate([x, glare], axis=1).astype(np.float32)


def episode(pool):
    houses = rng.choice(pool, size=WAY, replace=False)
    sup = np.repeat(houses, SHOT)
    qry = np.repeat(houses, QUERY)
    ys = np.repeat(np.arange(WAY), SHOT)
    yq = np.repeat(np.arange(WAY), QUERY)
    return (mx.array(readings(sup)), mx.array(ys), mx.array(readings(qry)), mx.array(yq))


class Embed(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D_OBS, 64)
        self.l2 = nn.Linear(64, 64)
        self.l3 = nn.Linear(64, 32)
        self.log_lam = mx.array([0.0])
        self.scale = mx.array([4.0])
        self.bias = mx.array([0.0])

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        return self.l3(h)


def ns_inverse(a, iters=18):
    # Newton-Schulz: X <- X (2I - A X), started from A^T / (|A|_1 |A|_inf)
    n = a.shape[0]
    eye = mx.eye(n)
    norm1 = mx.max(mx.sum(mx.abs(a), axis=0))
    norminf = mx.max(mx.sum(mx.abs(a), axis=1))
    x = a.T / (norm1 * norminf)
    for _ in range(iters):
        x = x @ (2.0 * eye - a @ x)
    return x


def ridge_logits(model, xs, ys, xq):
    es, eq = model(xs), model(xq)
    y1 = mx.eye(WAY)[ys]
    lam = mx.exp(model.log_lam)
    k = es @ es.T + lam * mx.eye(es.shape[0])
    alpha = ns_inverse(k) @ y1
    w = es.T @ alpha
    return model.scale * (eq @ w) + model.bias, k, alpha, y1


def loss_fn(model, xs, ys, xq, yq):
    logits, _, _, _ = ridge_logits(model, xs, ys, xq)
    return nn.losses.cross_entropy(logits, yq, reduction="mean")


def centroid_baseline(xs, ys, xq, yq):
    xs_np, ys_np, xq_np, yq_np = map(np.array, (xs, ys, xq, yq))
    cent = np.stack([xs_np[ys_np == k].mean(0) for k in range(WAY)])
    d = ((xq_np[:, None, :] - cent[None]) ** 2).sum(-1)
    return float((d.argmin(1) == yq_np).mean())


def evaluate(model, n_ep=150):
    accs, base = [], []
    for _ in range(n_ep):
        xs, ys, xq, yq = episode(TEST_HOUSES)
        logits, _, _, _ = ridge_logits(model, xs, ys, xq)
        accs.append(float((logits.argmax(1) == yq).mean()))
        base.append(centroid_baseline(xs, ys, xq, yq))
    return float(np.mean(accs)), float(np.mean(base))


TOTAL, WARM, PEAK = 1200, 150, 2e-3


def lr_at(step):
    if step < WARM:
        return PEAK * step / WARM
    t = (step - WARM) / (TOTAL - WARM)
    return PEAK * 0.5 * (1 + math.cos(math.pi * t))


def build():
    m = Embed()
    mx.eval(m.parameters())
    o = optim.Adam(learning_rate=0.0)
    return m, o


model, opt = build()
step_fn = nn.value_and_grad(model, loss_fn)
print(f"params: {sum(v.size for _, v in tree_flatten(model.parameters()))}")
acc0, base0 = evaluate(model)
print(f"before meta-training  test acc {acc0:.3f}  raw-centroid baseline {base0:.3f}  chance {1/WAY:.3f}")

ckpt = os.path.join(tempfile.mkdtemp(), "lantern_ridge.safetensors")
t0 = time.time()
run_loss, run_acc = [], []
for step in range(TOTAL):
    if step == 600:
        model.save_weights(ckpt)
        model, opt = build()
        model.load_weights(ckpt)
        step_fn = nn.value_and_grad(model, loss_fn)
        print(f"[resume] step {step}: reloaded {os.path.basename(ckpt)} into a new model and optimizer")
    opt.learning_rate = lr_at(step)
    xs, ys, xq, yq = episode(TRAIN_HOUSES)
    loss, grads = step_fn(model, xs, ys, xq, yq)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    run_loss.append(loss.item())
    if step % 100 == 99:
        logits, k, alpha, y1 = ridge_logits(model, xs, ys, xq)
        resid = float(mx.abs(k @ alpha - y1).max())
        acc_tr = float((logits.argmax(1) == yq).mean())
        print(f"episode {step+1:5d}  lr {lr_at(step):.2e}  meta-loss {np.mean(run_loss):.4f}  "
              f"last-episode query acc {acc_tr:.2f}  lam {float(mx.exp(model.log_lam)[0]):.3f}  "
              f"solve residual {resid:.1e}")
        run_loss = []
    if step % 400 == 399:
        acc, base = evaluate(model)
        print(f"  held-out lighthouses: acc {acc:.3f}  raw-centroid baseline {base:.3f}")

acc, base = evaluate(model, 300)
print(f"final held-out 5-way 3-shot acc {acc:.3f}  (raw-centroid baseline {base:.3f}, chance {1/WAY:.3f})  "
      f"time {time.time()-t0:.1f}s")
