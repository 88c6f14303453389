import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

# Hive acoustic monitor: 24 spectral band energies -> colony state
# (0 queenright, 1 queenless, 2 pre-swarm). Main-net weight matrices are
# produced by small generators from learned chunk codes (static hypernetwork).

SEED = 7
N_BANDS = 24
CLASSES = ["queenright", "queenless", "preswarm"]
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def make_hives(n):
    y = rng.choice(3, size=n, p=[0.6, 0.25, 0.15])
    f = np.linspace(0.0, 1.0, N_BANDS)
    base = np.exp(-((f - 0.35) ** 2) / 0.02)
    shift = np.stack([
        np.zeros_like(f),
        0.6 * np.exp(-((f - 0.55) ** 2) / 0.01),          # queenless roar
        0.5 * np.sin(6 * np.pi * f) * (f > 0.5),           # piping bands
    ])
    amp = rng.lognormal(0.0, 0.25, size=(n, 1))
    x = amp * (base + shift[y]) + rng.normal(0, 0.22, size=(n, N_BANDS))
    return np.log1p(np.abs(x)).astype(np.float32) * np.sign(x).astype(np.float32), y.astype(np.int32)


xtr, ytr = make_hives(6000)
xva, yva = make_hives(1500)
mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd


class ChunkHyperLinear(nn.Module):
    def __init__(self, d_in, d_out, chunk=8, z_dim=8):
        super().__init__()
        self.n_chunks = d_out // chunk
        self.d_in, self.chunk = d_in, chunk
        self.codes = mx.random.normal((self.n_chunks, z_dim)) * 0.5
        self.gen = nn.Linear(z_dim, chunk * d_in)
        self.gen.weight = self.gen.weight * (1.0 / np.sqrt(d_in))
        self.bias = mx.zeros((d_out,))

    def weight(self):
        w = self.gen(self.codes)                       # (n_chunks, chunk*d_in)
        return w.reshape(self.n_chunks * self.chunk, self.d_in)

    def __call__(self, x):
        return x @ self.weight().T + self.bias


class HiveNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = ChunkHyperLinear(N_BANDS, 48)
        self.l2 = ChunkHyperLinear(48, 48)
        self.head = nn.Linear(48, 3)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.head(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


EPOCHS, BATCH = 8, 96
STEPS_PER_EPOCH = len(xtr) // BATCH
TOTAL = EPOCHS * STEPS_PER_EPOCH
WARM = 150
PEAK = 2e-3


def make_opt():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, TOTAL - WARM, 1e-5)],
        [WARM],
    )
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def log(**kv):
    print(" ".join(f"{k}={v}" for k, v in kv.items()), flush=True)


def evaluate(model):
    logits = model(mx.array(xva))
    pred = np.array(mx.argmax(logits, axis=1))
    vloss = nn.losses.cross_entropy(logits, mx.array(yva), reduction="mean").item()
    acc = float((pred == yva).mean())
    recall = [float((pred[yva == c] == c).mean()) for c in range(3)]
    return vloss, acc, recall


majority = float((yva == np.bincount(ytr).argmax()).mean())
cent = np.stack([xtr[ytr == c].mean(0) for c in range(3)])
nc_pred = np.argmin(((xva[:, None, :] - cent[None]) ** 2).sum(-1), axis=1)
nearest_centroid = float((nc_pred == yva).mean())
log(event="data", train=len(xtr), valid=len(xva), bands=N_BANDS,
    baseline_majority_acc=f"{majority:.3f}", baseline_centroid_acc=f"{nearest_centroid:.3f}")

model = HiveNet()
mx.eval(model.parameters())
opt = make_opt()
n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
log(event="model", trainable=n_params, lr_at_step0=f"{float(opt.learning_rate):.1e}")

vg = nn.value_and_grad(model, loss_fn)
ckpt_dir = tempfile.mkdtemp()
step = 0
t0 = time.time()
RESUME_AFTER = 4

epoch = 0
while epoch < EPOCHS:
    perm = rng.permutation(len(xtr))
    run = []
    for b in range(STEPS_PER_EPOCH):
        idx = mx.array(perm[b * BATCH:(b + 1) * BATCH])
        loss, grads = vg(model, mx.array(xtr)[idx], mx.array(ytr)[idx])
        opt.update(model, grads)
        lr_now = float(opt.learning_rate)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        run.append(loss.item())
        if step in (1, 2, 10, 50) or step % 125 == 0:
            log(event="train", step=step, lr=f"{lr_now:.2e}", loss=f"{np.mean(run[-25:]):.4f}")
    epoch += 1
    vloss, acc, rec = evaluate(model)
    log(event="valid", epoch=epoch, step=step, val_loss=f"{vloss:.4f}", val_acc=f"{acc:.3f}",
        recall_queenless=f"{rec[1]:.3f}", recall_preswarm=f"{rec[2]:.3f}",
        secs=f"{time.time() - t0:.1f}")

    if epoch == RESUME_AFTER:
        wpath = os.path.join(ckpt_dir, "hive.safetensors")
        opath = os.path.join(ckpt_dir, "opt.safetensors")
        model.save_weights(wpath)
        mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
        log(event="checkpoint", step=step, path=os.path.basename(wpath))
        del model, opt, vg
        model = HiveNet()
        model.load_weights(wpath)
        opt = make_opt()
        opt.state = tree_unflatten(list(mx.load(opath).items()))
        mx.eval(model.parameters(), opt.state)
        vg = nn.value_and_grad(model, loss_fn)
        rl, ra, _ = evaluate(model)
        log(event="resume", step=int(opt.state["step"].item()), val_loss=f"{rl:.4f}", val_acc=f"{ra:.3f}")

vloss, acc, rec = evaluate(model)
log(event="done", steps=step, val_acc=f"{acc:.3f}", vs_majority=f"{acc - majority:+.3f}",
    vs_centroid=f"{acc - nearest_centroid:+.3f}", secs=f"{time.time() - t0:.1f}")
