# Organ workshop: match an organ pipe to its rank (set) from 20 voicing measurements,
# then recognise ranks never seen in training. Lifted structured embedding loss,
# AdamW with linear warmup from 0, checkpoint to disk half-way and resume from it.
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
N_FEAT, N_LAT = 20, 6
MIX = rng.normal(size=(N_LAT, N_FEAT)) / np.sqrt(N_LAT)
NUIS = rng.normal(size=(3, N_FEAT)) * 0.8

def make_ranks(n_ranks, per_rank):
    lat = rng.normal(size=(n_ranks, N_LAT))
    xs, ys = [], []
    for r in range(n_ranks):
        z = lat[r] + 0.25 * rng.normal(size=(per_rank, N_LAT))
        nuis = rng.normal(size=(per_rank, 3)) @ NUIS  # wind pressure, temperature, mouth cut
        x = np.tanh(z @ MIX) * 2.0 + nuis + 0.15 * rng.normal(size=(per_rank, N_FEAT))
        xs.append(x); ys.append(np.full(per_rank, r))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys)

xtr, ytr = make_ranks(40, 30)
xte, yte = make_ranks(12, 20)
mu, sd = xtr.mean(0), xtr.std(0)
xtr = (xtr - mu) / sd
xte = (xte - mu) / sd

class PipeEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(N_FEAT, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 16))
    def __call__(self, x):
        e = self.body(x)
        return e / mx.sqrt(mx.sum(e * e, axis=1, keepdims=True) + 1e-8)

def pair_dist(e):
    sq = mx.sum(e * e, axis=1)
    d2 = sq[:, None] + sq[None, :] - 2 * e @ e.T
    return mx.sqrt(mx.maximum(d2, 0.0) + 1e-6)

MARGIN = 1.0
def lifted_loss(model, x, y):
    e = model(x)
    d = pair_dist(e)
    same = y[:, None] == y[None, :]
    eye = mx.eye(x.shape[0], dtype=mx.bool_)
    pos = mx.logical_and(same, mx.logical_not(eye))
    neg_term = mx.where(same, -1e9, MARGIN - d)            # per anchor row, negatives only
    lse_row = mx.logsumexp(neg_term, axis=1)               # log sum_k exp(m - D_ik)
    j = mx.logaddexp(lse_row[:, None], lse_row[None, :]) + d
    hinge = mx.maximum(j, 0.0) ** 2
    posf = pos.astype(mx.float32)
    return mx.sum(hinge * posf) / (2 * mx.sum(posf))

def recall_at_1(model, x, y):
    e = model(mx.array(x))
    d = np.array(pair_dist(e))
    np.fill_diagonal(d, np.inf)
    return float(np.mean(y[d.argmin(1)] == y))

def recall_raw(x, y):
    d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return float(np.mean(y[d.argmin(1)] == y))

P, K = 10, 4
def batch():
    cls = rng.choice(40, P, replace=False)
    idx = np.concatenate([rng.choice(np.where(ytr == c)[0], K, replace=False) for c in cls])
    return mx.array(xtr[idx]), mx.array(ytr[idx])

TOTAL, WARM, HALF = 600, 60, 300
def schedule():
    return optim.join_schedules([optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, TOTAL - WARM, 1e-5)], [WARM])

mx.random.seed(3)
model = PipeEncoder()
mx.eval(model.parameters())
print(f"baseline recall@1 unseen ranks: raw features {recall_raw(xte, yte):.3f}  untrained encoder {recall_at_1(model, xte, yte):.3f}  chance {1/12:.3f}")

opt = optim.AdamW(learning_rate=schedule(), weight_decay=1e-4)
ckdir = tempfile.mkdtemp(None, "pipe_ck_")

def run(model, opt, start, stop):
    step_fn = nn.value_and_grad(model, lifted_loss)
    acc = []
    for step in range(start, stop):
        x, y = batch()
        lr_now = opt.learning_rate.item()
        loss, g = step_fn(model, x, y)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        acc.append(loss.item())
        if step % 50 == 0 or step == stop - 1:
            print(f"step {step:4d}  lr {lr_now:.2e}  lifted {np.mean(acc):.4f}")
            acc = []
        if step % 150 == 149:
            print(f"  eval step {step}: recall@1 unseen {recall_at_1(model, xte, yte):.3f}  train-ranks {recall_at_1(model, xtr[:600], ytr[:600]):.3f}")

t0 = time.time()
run(model, opt, 0, HALF)
model.save_weights(os.path.join(ckdir, "pipe.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"checkpoint written at step {HALF} -> {ckdir}")

del model, opt
model = PipeEncoder()
model.load_weights(os.path.join(ckdir, "pipe.safetensors"))
opt = optim.AdamW(learning_rate=schedule(), weight_decay=1e-4)
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
print(f"resumed: optimizer step {int(opt.state['step'].item())}, lr {opt.learning_rate.item():.2e}")
run(model, opt, HALF, TOTAL)
r = recall_at_1(model, xte, yte)
print(f"final recall@1 unseen ranks {r:.3f} (raw features {recall_raw(xte, yte):.3f})  time {time.time()-t0:.1f}s")
