"""Matrix-factorisation recommender for a board-game cafe's ratings (1-5 stars).

Session 1 trains for a few epochs and writes a checkpoint (weights + Adam state +
a small JSON with the epoch) into a temp directory, then exits the "session".
Session 2 builds a FRESH model and optimizer, restores both from the checkpoint
and continues.  Progress is printed as a grid table, like `tabulate(..., "grid")`.
"""
import json
import shutil
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

N_USERS, N_GAMES, DIM = 400, 250, 8
N_OBS, N_TEST = 60000, 5000
BATCH = 256
SESSION1_EPOCHS, TOTAL_EPOCHS = 5, 12
L2 = 2e-3
rng = np.random.default_rng(7)

# ------------------------------------------------------------ synthetic ratings
U = rng.normal(0, 0.55, (N_USERS, 4))
V = rng.normal(0, 0.55, (N_GAMES, 4))
bu = rng.normal(0, 0.3, N_USERS)
bg = rng.normal(0, 0.4, N_GAMES)
pairs = rng.choice(N_USERS * N_GAMES, size=N_OBS + N_TEST, replace=False)
uid, gid = pairs // N_GAMES, pairs % N_GAMES
r = 3.4 + bu[uid] + bg[gid] + np.sum(U[uid] * V[gid], 1) + rng.normal(0, 0.35, len(pairs))
r = np.clip(r, 1.0, 5.0).astype(np.float32)
NOISE_SD = 0.35

tr_u, tr_g, tr_r = uid[:N_OBS], gid[:N_OBS], r[:N_OBS]
te_u, te_g, te_r = mx.array(uid[N_OBS:]), mx.array(gid[N_OBS:]), mx.array(r[N_OBS:])
GLOBAL_MEAN = float(tr_r.mean())


class MF(nn.Module):
    def __init__(self):
        super().__init__()
        self.user = nn.Embedding(N_USERS, DIM)
        self.game = nn.Embedding(N_GAMES, DIM)
        self.user_bias = nn.Embedding(N_USERS, 1)
        self.game_bias = nn.Embedding(N_GAMES, 1)
        self.mu = GLOBAL_MEAN  # a plain float, not a parameter
        for emb, s in ((self.user, 0.1), (self.game, 0.1), (self.user_bias, 0.0), (self.game_bias, 0.0)):
            emb.weight = mx.random.normal(emb.weight.shape) * s

    def __call__(self, u, g):
        pu, qg = self.user(u), self.game(g)
        dot = (pu * qg).sum(-1)
        return self.mu + dot + self.user_bias(u)[:, 0] + self.game_bias(g)[:, 0], pu, qg


def loss_fn(model, u, g, y):
    pred, pu, qg = model(u, g)
    mse = mx.mean((pred - y) ** 2)
    reg = L2 * (mx.sum(pu * pu) + mx.sum(qg * qg)) / u.shape[0]
    return mse + reg, mse


def evaluate(model):
    pred, _, _ = model(te_u, te_g)
    pred = mx.clip(pred, 1.0, 5.0)
    err = pred - te_r
    rmse = mx.sqrt(mx.mean(err * err)).item()
    half_star = (mx.abs(err) <= 0.5).astype(mx.float32).mean().item()
    return rmse, half_star


class Grid:
    def __init__(self, cols, widths):
        self.cols, self.widths = cols, widths
        self.rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def header(self):
        print(self.rule)
        print("| " + " | ".join(c.ljust(w) for c, w in zip(self.cols, self.widths)) + " |")
        print(self.rule.replace("-", "="))

    def row(self, vals):
        print("| " + " | ".join(str(v).rjust(w) for v, w in zip(vals, self.widths)) + " |")
        print(self.rule, flush=True)


grid = Grid(["session", "epoch", "train_mse", "test_rmse", "half_star_%", "gap", "sec"], [7, 5, 9, 9, 11, 7, 6])


def run_epochs(model, opt, first_epoch, last_epoch, session, t0, check_grads=False):
    step_fn = nn.value_and_grad(model, loss_fn)
    for epoch in range(first_epoch, last_epoch + 1):
        order = rng.permutation(N_OBS)
        tot, nb = 0.0, 0
        for s in range(0, N_OBS - BATCH + 1, BATCH):
            idx = order[s : s + BATCH]
            u, g, y = mx.array(tr_u[idx]), mx.array(tr_g[idx]), mx.array(tr_r[idx])
            (loss, mse), grads = step_fn(model, u, g, y)
            if check_grads:
                flat = tree_flatten(grads)
                nz = sum(1 for _, a in flat if mx.abs(a).max().item() > 0)
                print(f"grad check: {nz}/{len(flat)} leaves non-zero at the first step")
                grid.header()
                check_grads = False
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, mse)
            tot += mse.item()
            nb += 1
        rmse, half = evaluate(model)
        grid.row([session, epoch, f"{tot / nb:.4f}", f"{rmse:.4f}", f"{100 * half:.1f}",
                  f"{rmse - NOISE_SD:+.3f}", f"{time.perf_counter() - t0:.1f}"])
    return rmse


ckpt_dir = tempfile.mkdtemp(prefix="mf_ckpt_")
w_path = os.path.join(ckpt_dir, "mf.safetensors")
o_path = os.path.join(ckpt_dir, "adam.safetensors")
m_path = os.path.join(ckpt_dir, "meta.json")
print(f"ratings: {N_OBS} train / {N_TEST} test, users {N_USERS}, games {N_GAMES}; "
      f"predict-the-mean rmse {float(np.sqrt(np.mean((r[N_OBS:] - GLOBAL_MEAN) ** 2))):.4f}, noise sd {NOISE_SD}")

# ------------------------------------------------------------ session 1
mx.random.seed(1)
t0 = time.perf_counter()
model = MF()
opt = optim.Adam(learning_rate=optim.step_decay(0.02, 0.5, 4 * (N_OBS // BATCH)))
mx.eval(model.parameters())
rmse_at_save = run_epochs(model, opt, 1, SESSION1_EPOCHS, "1", t0, check_grads=True)
model.save_weights(w_path)
mx.save_safetensors(o_path, dict(tree_flatten(opt.state)))
with open(m_path, "w") as f:
    json.dump({"epoch": SESSION1_EPOCHS, "test_rmse": rmse_at_save}, f)
del model, opt
print(f"checkpoint written to {ckpt_dir} ({sum(os.path.getsize(os.path.join(ckpt_dir, p)) for p in os.listdir(ckpt_dir))} bytes)")

# ------------------------------------------------------------ session 2 (resume)
mx.random.seed(2)  # different init on purpose: everything must come from the checkpoint
model = MF()
model.load_weights(w_path)
opt = optim.Adam(learning_rate=optim.step_decay(0.02, 0.5, 4 * (N_OBS // BATCH)))
opt.state = tree_unflatten(list(mx.load(o_path).items()))
mx.eval(model.parameters(), opt.state)
with open(m_path) as f:
    meta = json.load(f)
rmse_loaded, _ = evaluate(model)
print(f"resumed at epoch {meta['epoch']} (adam step {opt.step.item()}): test_rmse {rmse_loaded:.4f} "
      f"vs {meta['test_rmse']:.4f} at save")
final = run_epochs(model, opt, meta["epoch"] + 1, TOTAL_EPOCHS, "2", t0)
print(f"finished: test_rmse {final:.4f} (noise sd {NOISE_SD}), {time.perf_counter() - t0:.1f}s")
shutil.rmtree(ckpt_dir, ignore_errors=True)
