# Rowing ergometer: predict 500 m split (seconds) from stroke data.
# Trains in two sessions: session 1 stops after 3 epochs and writes a checkpoint
# (weights + optimizer state + step counter); session 2 reloads it and continues.
import os, tempfile, time, json
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
N = 9000
rate = rng.uniform(18, 36, N)            # strokes / min
watts = rng.gamma(9.0, 25.0, N)          # average power
drag = rng.uniform(95, 150, N)           # drag factor
mass = rng.normal(78, 11, N)             # rower mass kg
ratio = rng.uniform(1.4, 2.6, N)         # recovery : drive ratio
split = 500.0 * (2.80 / watts) ** (1 / 3)
split += 0.012 * (drag - 120) + 0.03 * (mass - 78) * (rate < 24) - 0.8 * (ratio - 2.0) ** 2
split += rng.normal(0, 0.9, N)
X = np.stack([rate, np.log(watts), drag, mass, ratio], 1).astype(np.float32)
mu, sd = X.mean(0), X.std(0)
X = (X - mu) / sd
ym, ys = split.mean(), split.std()
Y = ((split - ym) / ys).astype(np.float32)[:, None]
Xtr, Ytr, Xva, Yva = mx.array(X[:7500]), mx.array(Y[:7500]), mx.array(X[7500:]), mx.array(Y[7500:])


class SplitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 128)
        self.l2 = nn.Linear(128, 128)
        self.out = nn.Linear(128, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h)


BATCH, EPOCHS, STOP_AFTER = 30, 12, 4
STEPS_PER_EPOCH = 7500 // BATCH
TOTAL = EPOCHS * STEPS_PER_EPOCH
# warm-up from exactly 0 over the first 150 steps, then cosine
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, 150), optim.cosine_decay(2e-3, TOTAL - 150, 2e-5)], [150])


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


def val_split_err(m):
    p = m(Xva)
    return (mx.sqrt(mx.mean((p - Yva) ** 2)) * ys).item(), (mx.mean(mx.abs(p - Yva)) * ys).item()


def save_ckpt(d, model, opt, epoch):
    model.save_weights(os.path.join(d, "model.safetensors"))
    state = dict(tree_flatten(opt.state))
    mx.savez(os.path.join(d, "opt.npz"), **state)
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump({"epoch": epoch}, f)


def load_ckpt(d, model, opt):
    model.load_weights(os.path.join(d, "model.safetensors"))
    state = tree_unflatten(list(mx.load(os.path.join(d, "opt.npz")).items()))
    opt.state = state
    with open(os.path.join(d, "meta.json")) as f:
        return json.load(f)["epoch"]


def session(name, ckdir, resume, seed):
    mx.random.seed(seed)
    model = SplitNet()
    opt = optim.Adam(learning_rate=sched)
    start = 0
    if resume:
        start = load_ckpt(ckdir, model, opt)
        print(f"[{name}] resumed from epoch {start}, optimizer step {opt.step.item()}, "
              f"lr now {opt.learning_rate.item():.2e}")
    mx.eval(model.parameters(), opt.state)
    step_fn = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    for ep in range(start, EPOCHS if resume else STOP_AFTER):
        perm = mx.array(np.random.default_rng(100 + ep).permutation(7500))
        tot = 0.0
        for i in range(STEPS_PER_EPOCH):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            loss, grads = step_fn(model, Xtr[idx], Ytr[idx])
            if ep == 0 and i == 0:
                flat = tree_flatten(grads)
                nz = sum(int(mx.any(g != 0).item()) for _, g in flat)
                print(f"[{name}] first-step gradient check: {nz}/{len(flat)} leaves non-zero, "
                      f"lr at step 1 = {opt.learning_rate.item():.1e}")
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        rmse, mae = val_split_err(model)
        print(f"[{name}] epoch {ep + 1}/{EPOCHS}  train_mse(std) {tot / STEPS_PER_EPOCH:.4f}  "
              f"val_rmse {rmse:.2f} s/500m  val_mae {mae:.2f} s/500m  "
              f"lr {opt.learning_rate.item():.2e}  {time.time() - t0:.1f}s")
    if not resume:
        save_ckpt(ckdir, model, opt, STOP_AFTER)
        print(f"[{name}] checkpoint written after epoch {STOP_AFTER}")
    return model


with tempfile.TemporaryDirectory() as d:
    print(f"rowers: 7500 train / 1500 val, split sd {ys:.2f} s, noise floor 0.90 s")
    session("session-1", d, resume=False, seed=0)
    m = session("session-2", d, resume=True, seed=123)
    rmse, mae = val_split_err(m)
    print(f"final: val_rmse {rmse:.2f} s/500m, val_mae {mae:.2f} s/500m")
