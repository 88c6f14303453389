"""Speaker verification for a cathedral precentor's roll of cantors.

Synthetic recordings: every cantor has a voice (a speaker-specific warp of
shared phone shapes plus a timbre offset); every recording adds its own
microphone/room offset and hiss.  A small frame-wise MLP encoder (frames + deltas, mean/std pooling) is trained with the
GE2E softmax loss (Wan et al. 2018) on N cantors x M recordings per batch,
with a learnable similarity scale w and bias b.

Held-out cantors are never seen in training; we report the equal error rate
(EER, lower is better) on them, next to a constant reference: cosine scoring of
the raw time-averaged frames.

Run shape: learning rate warms up from exactly 0, SGD with momentum and
gradient clipping, a checkpoint after step 200, then the encoder, head and
optimizer are rebuilt from that checkpoint and training resumes to step 400.
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
DIM = 20          # frame features
T = 24            # frames per recording
N_PHONES = 12
N_TRAIN, N_HELD = 120, 40
N_SPK, M_UTT = 8, 6   # GE2E batch
TOTAL, CKPT_AT, REPORT = 400, 200, 100

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

phones = rng.normal(0.0, 1.5, size=(N_PHONES, DIM)).astype(np.float32)


def make_cantors(n):
    warp = np.eye(DIM, dtype=np.float32)[None] + 0.6 * rng.normal(
        size=(n, DIM, DIM)).astype(np.float32) / np.sqrt(DIM)
    timbre = rng.normal(0.0, 0.4, size=(n, DIM)).astype(np.float32)
    return warp, timbre


def record(warp, timbre, idx, gen):
    """One batch of recordings: idx is an int array of cantor ids."""
    k = len(idx)
    seq = gen.integers(0, N_PHONES, size=(k, T))
    base = phones[seq]                                     # k, T, DIM
    voiced = np.einsum("kij,ktj->kti", warp[idx], base)
    room = gen.normal(0.0, 0.8, size=(k, 1, DIM)).astype(np.float32)
    hiss = gen.normal(0.0, 0.25, size=(k, T, DIM)).astype(np.float32)
    return (voiced + timbre[idx][:, None, :] + room + hiss).astype(np.float32)


train_warp, train_timbre = make_cantors(N_TRAIN)
held_warp, held_timbre = make_cantors(N_HELD)

# held-out trial set, drawn once: 4 enrolment + 4 test recordings per held-out cantor
eval_gen = np.random.default_rng(1234)
enrol_ids = np.repeat(np.arange(N_HELD), 4)
test_ids = np.repeat(np.arange(N_HELD), 4)
enrol_x = record(held_warp, held_timbre, enrol_ids, eval_gen)
test_x = record(held_warp, held_timbre, test_ids, eval_gen)


class Encoder(nn.Module):
    def __init__(self, dim=DIM, hidden=64, emb=32):
        super().__init__()
        self.f1 = nn.Linear(2 * dim, hidden)
        self.f2 = nn.Linear(hidden, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.proj = nn.Linear(2 * hidden, emb)

    def __call__(self, x):                 # x: (B, T, DIM)
        delta = x[:, 1:] - x[:, :-1]       # frame-to-frame change
        h = mx.concatenate([x[:, 1:], delta], axis=-1)
        h = nn.gelu(self.f1(h))
        h = nn.gelu(self.norm(self.f2(h)))
        stats = mx.concatenate([h.mean(axis=1), h.std(axis=1)], axis=-1)
        e = self.proj(stats)
        return e / (mx.linalg.norm(e, axis=-1, keepdims=True) + 1e-6)


class GE2EHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = mx.array([10.0])
        self.b = mx.array([-5.0])

    def __call__(self, e):                 # e: (N, M, D), unit rows
        n, m, _ = e.shape
        total = e.sum(axis=1)                                  # N, D
        cent = total / m
        cent = cent / (mx.linalg.norm(cent, axis=-1, keepdims=True) + 1e-6)
        # exclusive centroid of the recording's own cantor
        own = (total[:, None, :] - e) / (m - 1)
        own = own / (mx.linalg.norm(own, axis=-1, keepdims=True) + 1e-6)
        sim_all = mx.einsum("nmd,kd->nmk", e, cent)            # N, M, N
        sim_own = (e * own).sum(axis=-1)                       # N, M
        eye = mx.eye(n)[:, None, :]
        sim = sim_all * (1 - eye) + sim_own[:, :, None] * eye
        logits = self.w * sim + self.b
        target = mx.broadcast_to(mx.arange(n)[:, None], (n, m))
        return nn.losses.cross_entropy(logits.reshape(n * m, n),
                                       target.reshape(-1), reduction="mean")


class Verifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.head = GE2EHead()


def eer(scores, same):
    order = np.argsort(-scores)
    s = same[order]
    tp = np.cumsum(s) / s.sum()
    fp = np.cumsum(~s) / (~s).sum()
    fnr = 1.0 - tp
    i = np.argmin(np.abs(fnr - fp))
    return 100.0 * 0.5 * (fnr[i] + fp[i])


def score_eer(enrol_emb, test_emb):
    models = enrol_emb.reshape(N_HELD, 4, -1).mean(axis=1)
    models /= np.linalg.norm(models, axis=-1, keepdims=True)
    test_emb = test_emb / np.linalg.norm(test_emb, axis=-1, keepdims=True)
    scores = test_emb @ models.T                               # tests x cantors
    same = test_ids[:, None] == np.arange(N_HELD)[None, :]
    return eer(scores.reshape(-1), same.reshape(-1))


raw_eer = score_eer(enrol_x.mean(axis=1), test_x.mean(axis=1))


def held_out_eer(model):
    ee = np.array(model.encoder(mx.array(enrol_x)))
    te = np.array(model.encoder(mx.array(test_x)))
    return score_eer(ee, te)


def make_schedule():
    warm = optim.linear_schedule(0.0, 0.05, 60)
    rest = optim.step_decay(0.05, 0.5, 150)
    return optim.join_schedules([warm, rest], [60])


def build():
    model = Verifier()
    opt = optim.SGD(learning_rate=make_schedule(), momentum=0.9)
    return model, opt


def loss_fn(model, x):
    e = model.encoder(x.reshape(N_SPK * M_UTT, T, DIM))
    return model.head(e.reshape(N_SPK, M_UTT, -1))


def train_steps(model, opt, start, stop, gen):
    grad_fn = nn.value_and_grad(model, loss_fn)
    window = []
    for step in range(start + 1, stop + 1):
        who = gen.choice(N_TRAIN, size=N_SPK, replace=False)
        idx = np.repeat(who, M_UTT)
        x = mx.array(record(train_warp, train_timbre, idx, gen))
        loss, grads = grad_fn(model, x)
        grads, _ = optim.clip_grad_norm(grads, 3.0)
        opt.update(model, grads)
        # the paper keeps the similarity scale positive
        model.head.w = mx.maximum(model.head.w, 1e-6)
        mx.eval(model.parameters(), opt.state)
        window.append(loss.item())
        if step % REPORT == 0:
            lr = opt.learning_rate.item()
            print(f"§ step {step:04d} │ ge2e {np.mean(window):.4f} │ "
                  f"w {model.head.w.item():6.2f} b {model.head.b.item():6.2f} │ "
                  f"held-out EER {held_out_eer(model):5.2f} % "
                  f"(raw-mean {raw_eer:5.2f} %) │ lr {lr:.4f}")
            window = []


t0 = time.time()
print(f"precentor roll: {N_TRAIN} training cantors, {N_HELD} held-out, "
      f"batch {N_SPK}x{M_UTT}, chance-level GE2E loss ln({N_SPK}) = "
      f"{np.log(N_SPK):.4f}")
model, opt = build()
print(f"§ step 0000 │ untrained held-out EER {held_out_eer(model):5.2f} % "
      f"(raw-mean {raw_eer:5.2f} %)")
gen = np.random.default_rng(SEED + 1)
train_steps(model, opt, 0, CKPT_AT, gen)

with tempfile.TemporaryDirectory() as tmp:
    wpath = os.path.join(tmp, "roll.safetensors")
    opath = os.path.join(tmp, "roll_opt.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    before = held_out_eer(model)
    del model, opt
    model, opt = build()
    model.load_weights(wpath)
    opt.init(model.trainable_parameters())
    opt.state = tree_unflatten(list(mx.load(opath).items()))
    after = held_out_eer(model)
    print(f"checkpoint at step {CKPT_AT}: rebuilt and reloaded "
          f"(optimizer step {opt.step.item()}, EER {before:.2f} % -> {after:.2f} %)")

train_steps(model, opt, CKPT_AT, TOTAL, gen)
final = held_out_eer(model)
print(f"done in {time.time() - t0:.1f}s: held-out EER {final:.2f} % "
      f"vs raw-mean reference {raw_eer:.2f} %")
