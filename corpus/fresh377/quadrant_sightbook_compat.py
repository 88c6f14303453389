# Harbour-master's chart room: the chart index was embedded years ago by a
# legacy encoder and is NOT re-embedded.  A new query tower learns to map
# pilots' radio descriptions into that frozen index space (full softmax over
# the whole index), with a spread-out regulariser on the query embeddings
# whose weight ramps up from 0.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(23)
mx.random.seed(23)
LAT, CHART_DIM, RADIO_DIM, EMB, N_CHARTS = 12, 40, 28, 24, 500

chart_lat = rng.normal(size=(N_CHARTS, LAT)).astype(np.float32)
L_chart = rng.normal(size=(LAT, CHART_DIM)).astype(np.float32) / math.sqrt(LAT)
L_radio = rng.normal(size=(LAT, RADIO_DIM)).astype(np.float32) / math.sqrt(LAT)

# legacy encoder: a random projection, chosen once + normalisation, run once
legacy_W = rng.normal(size=(CHART_DIM, EMB)).astype(np.float32) / math.sqrt(CHART_DIM)
charts = np.tanh(chart_lat @ L_chart) + 0.05 * rng.normal(size=(N_CHARTS, CHART_DIM))
index = charts @ legacy_W
index /= np.linalg.norm(index, axis=1, keepdims=True)
INDEX = mx.array(index.astype(np.float32))        # frozen: never trained, never rebuilt


def radio_calls(ids):
    z = chart_lat[ids] + 0.45 * rng.normal(size=(len(ids), LAT))
    x = np.sin(1.3 * z @ L_radio) + 0.2 * rng.normal(size=(len(ids), RADIO_DIM))
    return mx.array(x.astype(np.float32)), mx.array(ids)


class QueryTower(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(RADIO_DIM, 128), nn.GELU(), nn.LayerNorm(128),
                                 nn.Linear(128, 128), nn.GELU(), nn.Linear(128, EMB))
        self.log_scale = mx.array(math.log(10.0))

    def __call__(self, x):
        e = self.net(x)
        return e / mx.linalg.norm(e, axis=-1, keepdims=True)


def spread_out(e, ids):
    # second moment of dot products between queries about different charts;
    # for random unit vectors in EMB dims its expectation is 1/EMB
    g = e @ e.T
    diff = (ids[:, None] != ids[None, :]).astype(mx.float32)
    return mx.sum(diff * g * g) / mx.maximum(mx.sum(diff), 1.0)


def loss_fn(model, x, ids, reg_w):
    e = model(x)
    logits = mx.clip(mx.exp(model.log_scale), 1.0, 100.0) * (e @ INDEX.T)
    ce = nn.losses.cross_entropy(logits, ids, reduction="mean")
    so = spread_out(e, ids)
    return ce + reg_w * so, (ce, so)


def recall(model, x, ids, k):
    top = mx.argsort(-(model(x) @ INDEX.T), axis=1)[:, :k]
    return mx.mean(mx.any(top == ids[:, None], axis=1)).item()


model = QueryTower()
mx.eval(model.parameters())
STEPS, WARM, BS, REG_MAX = 800, 100, 96, 2.0
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 1.5e-3, WARM), optim.cosine_decay(1.5e-3, STEPS - WARM, 2e-5)],
    [WARM])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
vg = nn.value_and_grad(model, loss_fn)

xv, iv = radio_calls(rng.integers(0, N_CHARTS, size=1000))
# baseline: push the radio call through the legacy chart encoder (zero-padded)
legacy_q = np.zeros((1000, CHART_DIM), np.float32)
legacy_q[:, :RADIO_DIM] = np.array(xv)
lq = legacy_q @ legacy_W
lq /= np.linalg.norm(lq, axis=1, keepdims=True)
legacy_r1 = np.mean(np.argmax(lq @ index.T, axis=1) == np.array(iv))
print(f"index {N_CHARTS} charts (frozen legacy embeddings), held-out calls {xv.shape[0]}")
print(f"baselines: chance recall@1 {1 / N_CHARTS:.4f}, legacy encoder on radio calls recall@1 {legacy_r1:.4f}")
print(f"spread-out target for random unit vectors: 1/{EMB} = {1 / EMB:.4f}")

t0 = time.time()
ce_hist = []
for step in range(STEPS):
    reg_w = REG_MAX * min(1.0, step / 400)            # 0 at step 0
    x, ids = radio_calls(rng.integers(0, N_CHARTS, size=BS))
    (loss, (ce, so)), g = vg(model, x, ids, reg_w)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss, ce, so)
    ce_hist.append(ce.item())
    if step % 100 == 0 or step == STEPS - 1:
        print(f"step {step:4d} lr {sched(mx.array(step)).item():.2e} reg_w {reg_w:.2f} "
              f"loss {loss.item():.4f} ce(avg100) {np.mean(ce_hist[-100:]):.4f} spread {so.item():.4f} "
              f"scale {mx.exp(model.log_scale).item():.1f}")
    if (step + 1) % 200 == 0:
        print(f"  held-out recall@1 {recall(model, xv, iv, 1):.3f} recall@5 {recall(model, xv, iv, 5):.3f}")

print(f"final held-out recall@1 {recall(model, xv, iv, 1):.3f} recall@5 {recall(model, xv, iv, 5):.3f} "
      f"(legacy {legacy_r1:.4f}, chance {1 / N_CHARTS:.4f}); index untouched; time {time.time() - t0:.1f}s")
