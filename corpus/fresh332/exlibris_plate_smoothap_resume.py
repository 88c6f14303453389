# Ex-libris print room: which copper plate pulled this bookplate impression?
# 20 measurements per impression (line widths, plate-tone, wear spots ...),
# synthetic. 90 plates for training, 30 plates never seen in training are used
# only to score retrieval (mAP@R, R@1).
# Loss: Smooth-AP (Brown et al. 2020), a smoothed 1 - average precision.
# The run is done in two sessions: session 1 saves a checkpoint (weights +
# optimizer state), session 2 rebuilds everything from the files and goes on.
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)

N_FEAT, LATENT = 20, 6
MIX = rng.normal(size=(LATENT, N_FEAT)) / np.sqrt(LATENT)
MIX2 = rng.normal(size=(N_FEAT, N_FEAT)) / np.sqrt(N_FEAT)


def make_plates(n):
    return rng.normal(size=(n, LATENT))


def pull(plates, idx):
    z = plates[idx]
    wear = rng.uniform(0.0, 0.5, size=(len(idx), 1))
    x = np.tanh(z @ MIX) + 0.35 * np.tanh((z @ MIX) @ MIX2)
    x = x * (1.0 - 0.3 * wear) + 0.25 * wear      # ink / wear changes every pull
    x = x + rng.normal(scale=0.5, size=x.shape)
    return x.astype(np.float32)


train_plates = make_plates(90)
unseen_plates = make_plates(30)
ue_idx = np.repeat(np.arange(30), 8)
X_unseen = pull(unseen_plates, ue_idx)
tr_eval_idx = np.repeat(np.arange(30), 8)
X_tr_eval = pull(train_plates, tr_eval_idx)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 16)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = h + nn.gelu(self.l2(h))
        e = self.out(h)
        return e / mx.sqrt((e * e).sum(-1, keepdims=True) + 1e-12)


TAU = 0.01


def smooth_ap_loss(model, x, y):
    e = model(x)
    s = e @ e.T                                   # (B, B) cosine
    B = s.shape[0]
    same = (y[:, None] == y[None, :])
    eye = mx.eye(B, dtype=mx.bool_)
    pos = same & ~eye                             # positives of each query
    others = ~eye                                 # everything but the query
    # d[i, p, k] = s[i, k] - s[i, p]
    d = s[:, None, :] - s[:, :, None]
    sg = mx.sigmoid(d / TAU)
    self_k = mx.eye(B, dtype=mx.bool_)[None, :, :]   # k == p
    rank_all = 1.0 + mx.where(others[:, None, :] & ~self_k, sg, 0.0).sum(-1)
    rank_pos = 1.0 + mx.where(pos[:, None, :] & ~self_k, sg, 0.0).sum(-1)
    ratio = mx.where(pos, rank_pos / rank_all, 0.0)
    ap = ratio.sum(-1) / pos.sum(-1)
    return 1.0 - ap.mean()


def map_at_r(emb, labels):
    s = emb @ emb.T
    np.fill_diagonal(s, -np.inf)
    order = np.argsort(-s, axis=1)
    aps, r1 = [], []
    for i in range(len(labels)):
        R = int((labels == labels[i]).sum() - 1)
        rel = (labels[order[i, :R]] == labels[i]).astype(np.float64)
        prec = np.cumsum(rel) / np.arange(1, R + 1)
        aps.append((prec * rel).sum() / R)
        r1.append(rel[0])
    return float(np.mean(aps)), 100.0 * float(np.mean(r1))


def embed(model, X):
    return np.array(model(mx.array(X)))


raw_unseen = X_unseen / np.linalg.norm(X_unseen, axis=1, keepdims=True)
RAW_MAP, RAW_R1 = map_at_r(raw_unseen, ue_idx)

P_PLATES, K_PULLS = 16, 4
STEPS_PER_EPOCH = 30
EPOCHS = 16
SPLIT_AT = 8
WARM = 60
TOTAL = EPOCHS * STEPS_PER_EPOCH


def make_optimizer():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, WARM),
         optim.cosine_decay(2e-3, TOTAL - WARM, 1e-4)], [WARM])
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def batch():
    plates = rng.choice(90, size=P_PLATES, replace=False)
    idx = np.repeat(plates, K_PULLS)
    return mx.array(pull(train_plates, idx)), mx.array(idx.astype(np.int32))


def run_epochs(model, opt, ep_from, ep_to, t0):
    step_fn = nn.value_and_grad(model, smooth_ap_loss)
    for ep in range(ep_from, ep_to + 1):
        losses = []
        for _ in range(STEPS_PER_EPOCH):
            xb, yb = batch()
            loss, grads = step_fn(model, xb, yb)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            losses.append(loss.item())
        if ep % 2 == 0 or ep == ep_to:
            tr_map, _ = map_at_r(embed(model, X_tr_eval), tr_eval_idx)
            ue_map, ue_r1 = map_at_r(embed(model, X_unseen), ue_idx)
            step = int(opt.state["step"].item())
            lr = opt.learning_rate.item()
            print(f"{ep},{step},{lr:.6f},{np.mean(losses):.4f},{tr_map:.4f},"
                  f"{ue_map:.4f},{ue_r1:.1f},{RAW_MAP:.4f},{time.time() - t0:.1f}")


print(f"# plates: 90 train, 30 unseen; batch {P_PLATES}x{K_PULLS}; tau {TAU}")
print(f"# raw-feature reference on unseen plates: mAP@R {RAW_MAP:.4f}, R@1 {RAW_R1:.1f}%")

t0 = time.time()
model = Encoder()
mx.eval(model.parameters())
opt = make_optimizer()
m0, r0 = map_at_r(embed(model, X_unseen), ue_idx)
print(f"# untrained encoder on unseen plates: mAP@R {m0:.4f}, R@1 {r0:.1f}%")
print("epoch,step,lr,smoothap_loss,train_map_r,unseen_map_r,unseen_r1_pct,raw_map_r,secs")
run_epochs(model, opt, 1, SPLIT_AT, t0)

ckpt_dir = tempfile.mkdtemp(prefix="exlibris_")
w_path = os.path.join(ckpt_dir, "encoder.safetensors")
o_path = os.path.join(ckpt_dir, "adamw_state.safetensors")
model.save_weights(w_path)
mx.save_safetensors(o_path, dict(tree_flatten(opt.state)))
saved = {k: np.array(v) for k, v in tree_flatten(model.parameters())}
print(f"# checkpoint written after epoch {SPLIT_AT} "
      f"(optimizer step {int(opt.state['step'].item())}); session 1 ends")
del model, opt

# ---- session 2: fresh objects, everything restored from disk ----
model = Encoder()
model.load_weights(w_path)
opt = make_optimizer()
opt.state = tree_unflatten(list(mx.load(o_path).items()))
mx.eval(model.parameters(), opt.state)
diff = max(float(np.abs(np.array(v) - saved[k]).max())
           for k, v in tree_flatten(model.parameters()))
print(f"# session 2: restored weights (max abs diff {diff:.1e}), "
      f"optimizer step {int(opt.state['step'].item())}, lr {opt.learning_rate.item():.6f}")
run_epochs(model, opt, SPLIT_AT + 1, EPOCHS, t0)

ue_map, ue_r1 = map_at_r(embed(model, X_unseen), ue_idx)
print(f"# final unseen plates: mAP@R {ue_map:.4f} (raw {RAW_MAP:.4f}), "
      f"R@1 {ue_r1:.1f}% (raw {RAW_R1:.1f}%)")
