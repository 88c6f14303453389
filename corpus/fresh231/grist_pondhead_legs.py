"""Grist-mill ledger: forecast the millpond head of the next hour (metres above
the wheel sill) from the previous 10 hourly heads plus the mill-race log
(inflow from rain, sluice opening, stones engaged).  Training runs in three
"legs" like a preemptible job: after each leg the weights, the Lion state,
the global step and the RNG key go to disk, everything is rebuilt from
scratch, and the next leg resumes from the files."""
import json
import os
import shutil
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

WINDOW = 10
FEATS = 4  # head, inflow, sluice, stones


def make_ponds(n_runs=300, hours=60, seed=11):
    key = mx.random.key(seed)
    k1, k2, k3, k4, k5 = mx.random.split(key, 5)
    pond = 3.2 + 0.6 * mx.random.uniform(shape=(n_runs, 1), key=k1)            # pond shape factor
    inflow = -18 + 10 * mx.sin(mx.arange(hours)[None, :] / 9.0 + mx.random.uniform(shape=(n_runs, 1), key=k2) * 6)
    sluice = mx.abs(mx.random.normal(shape=(n_runs, hours), key=k3)) * 0.3
    stones = mx.maximum(mx.random.normal(shape=(n_runs, hours), key=k4) * 25, 0.0)
    silting = 0.012 * mx.arange(hours)[None, :]
    head = pond + silting + 0.9 * sluice + 0.012 * stones + 0.01 * mx.abs(inflow + 15)
    head = head + 0.05 * mx.random.normal(shape=(n_runs, hours), key=k5)
    return head, inflow, sluice, stones


def windows(head, inflow, sluice, stones):
    xs, ys, prev = [], [], []
    hours = head.shape[1]
    for t in range(WINDOW, hours):
        x = mx.stack([
            (head[:, t - WINDOW:t] - 4.0),
            inflow[:, t - WINDOW + 1:t + 1] / 10.0,   # the coming hour's sluice/stones plan is in the log
            sluice[:, t - WINDOW + 1:t + 1],
            stones[:, t - WINDOW + 1:t + 1] / 25.0,
        ], axis=-1)
        xs.append(x)
        ys.append(head[:, t])
        prev.append(head[:, t - 1])
    return mx.concatenate(xs), mx.concatenate(ys), mx.concatenate(prev)


class PondHeadGRU(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.gru = nn.GRU(FEATS, hidden)
        self.head = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.gru(x)[:, -1, :]
        return self.head(h).squeeze(-1) + 4.0


def make_optimizer(total_steps):
    warm = optim.linear_schedule(0.0, 1e-3, 60)                  # starts at exactly 0
    cos = optim.cosine_decay(1e-3, total_steps - 60, 5e-5)
    return optim.Lion(learning_rate=optim.join_schedules([warm, cos], [60]), weight_decay=1e-3)


def save_ckpt(folder, model, opt, step, key):
    mx.save_safetensors(os.path.join(folder, "model.safetensors"), dict(tree_flatten(model.parameters())))
    mx.save_safetensors(os.path.join(folder, "opt.safetensors"), dict(tree_flatten(opt.state)))
    mx.save_safetensors(os.path.join(folder, "rng.safetensors"), {"key": key})
    with open(os.path.join(folder, "meta.json"), "w") as fh:
        json.dump({"global_step": step}, fh)


def load_ckpt(folder, model, opt):
    model.load_weights(os.path.join(folder, "model.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(folder, "opt.safetensors")).items()))
    key = mx.load(os.path.join(folder, "rng.safetensors"))["key"]
    with open(os.path.join(folder, "meta.json")) as fh:
        return json.load(fh)["global_step"], key


def main():
    head, inflow, sluice, stones = make_ponds()
    X, Y, P = windows(head, inflow, sluice, stones)
    n = X.shape[0]
    n_tr = int(0.85 * n)
    Xtr, Ytr = X[:n_tr], Y[:n_tr]
    Xva, Yva, Pva = X[n_tr:], Y[n_tr:], P[n_tr:]
    persist_mae = mx.mean(mx.abs(Pva - Yva)).item()

    legs = [130, 130, 140]
    total = sum(legs)
    bs = 128
    folder = tempfile.mkdtemp(prefix="grist_ckpt_")
    mx.random.seed(5)
    key = mx.random.key(2024)

    def loss_fn(m, xb, yb):
        return nn.losses.huber_loss(m(xb), yb, delta=0.25, reduction="mean")

    global_step = 0
    t0 = time.time()
    for leg_id, leg_len in enumerate(legs, start=1):
        model = PondHeadGRU()
        opt = make_optimizer(total)
        if leg_id > 1:
            global_step, key = load_ckpt(folder, model, opt)
            saved = mx.load(os.path.join(folder, "model.safetensors"))
            diff = max(mx.max(mx.abs(v - saved[k])).item() for k, v in tree_flatten(model.parameters()))
            print(json.dumps({"event": "restore", "leg": leg_id, "global_step": global_step,
                              "opt_step": int(opt.state["step"].item()),
                              "max_abs_param_diff": diff}))
        mx.eval(model.parameters())
        vg = nn.value_and_grad(model, loss_fn)

        for leg_step in range(1, leg_len + 1):
            key, sub = mx.random.split(key)
            idx = mx.random.randint(0, n_tr, (bs,), key=sub)
            loss, grads = vg(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            global_step += 1
            if leg_step == 1 or leg_step % 26 == 0:
                mae = mx.mean(mx.abs(model(Xva) - Yva)).item()
                print(json.dumps({"leg": leg_id, "leg_step": leg_step, "global_step": global_step,
                                  "lr": round(opt.learning_rate.item(), 7),
                                  "huber": round(loss.item(), 5),
                                  "val_mae_cm": round(100 * mae, 2),
                                  "persistence_mae_cm": round(100 * persist_mae, 2)}))
        save_ckpt(folder, model, opt, global_step, key)
        print(json.dumps({"event": "checkpoint", "leg": leg_id, "global_step": global_step,
                          "elapsed_s": round(time.time() - t0, 2)}))

    final = mx.mean(mx.abs(model(Xva) - Yva)).item()
    print(json.dumps({"event": "summary", "steps": global_step, "val_mae_cm": round(100 * final, 2),
                      "persistence_mae_cm": round(100 * persist_mae, 2),
                      "skill_vs_persistence": round(1 - final / persist_mae, 3)}))
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()
