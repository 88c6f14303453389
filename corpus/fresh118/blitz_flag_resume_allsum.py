"""Online blitz chess: will the side to move lose on time (flag) before the game ends?

Features come from a made-up clock/position model.  Training is written for data
parallel runs (gradients averaged with mx.distributed.all_sum over the group) but is
run here as a single process, where the group has size 1.  The run is cut in two
sessions: session 1 trains and writes a checkpoint (weights + optimizer state + meta)
into a temp dir; session 2 builds everything fresh, loads that checkpoint and goes on.
Every report is one JSON object per line; rates are percentages.
"""
import json
import os
import sys
import tempfile
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

GROUP = mx.distributed.init()
WORLD, RANK = GROUP.size(), GROUP.rank()


def emit(**kw):
    if RANK == 0:
        print(json.dumps(kw, sort_keys=False), flush=True)


def simulate_positions(n, seed):
    r = np.random.default_rng(seed)
    base = r.choice([60.0, 180.0, 300.0], n, p=[0.3, 0.45, 0.25])
    inc = r.choice([0.0, 1.0, 2.0], n, p=[0.5, 0.3, 0.2])
    move_no = r.integers(10, 90, n).astype(np.float64)
    my_clock = base * r.beta(2.0, 2.5, n) * np.exp(-move_no / 120)
    opp_clock = base * r.beta(2.0, 2.5, n) * np.exp(-move_no / 120)
    rating_gap = r.normal(0, 150, n)
    complexity = r.gamma(2.0, 1.0, n)          # engine-eval spread of candidate moves
    material = r.integers(4, 40, n).astype(np.float64)
    moves_left = np.maximum(5, 0.6 * material + r.normal(0, 4, n))
    need = moves_left * (1.2 + 0.9 * complexity) - inc * moves_left
    margin = (np.log1p(my_clock) - np.log1p(np.maximum(need, 0.5))
              + 0.4 * np.log1p(opp_clock) / np.log1p(base) - rating_gap / 600)
    p_flag = 1 / (1 + np.exp(3.0 * margin + 0.5))
    y = (r.random(n) < p_flag).astype(np.float32)
    x = np.stack([np.log1p(my_clock), np.log1p(opp_clock), np.log(base), inc, move_no / 50,
                  rating_gap / 150, complexity, material / 20], 1).astype(np.float32)
    return x, y


class FlagNet(nn.Module):
    def __init__(self, d=8, h=64):
        super().__init__()
        self.l1 = nn.Linear(d, h)
        self.l2 = nn.Linear(h, h)
        self.head = nn.Linear(h, 1)

    def __call__(self, x):
        z = nn.silu(self.l1(x))
        z = z + nn.silu(self.l2(z))
        return self.head(z).squeeze(-1)


def bce(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, with_logits=True, reduction="mean")


def build(lr_steps):
    model = FlagNet()
    sched = optim.step_decay(3e-3, 0.5, lr_steps)
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
    return model, opt


def make_step(model, opt):
    loss_and_grad = nn.value_and_grad(model, bce)

    @partial(mx.compile, inputs=[model.state, opt.state], outputs=[model.state, opt.state])
    def step(x, y):
        loss, grads = loss_and_grad(model, x, y)
        grads = tree_map(lambda g: mx.distributed.all_sum(g, group=GROUP) / WORLD, grads)
        opt.update(model, grads)
        return mx.distributed.all_sum(loss, group=GROUP) / WORLD

    return step


def metrics(model, x, y):
    logits = model(x)
    loss = nn.losses.binary_cross_entropy(logits, y, with_logits=True).item()
    pred = np.array(logits) > 0
    yy = np.array(y) > 0.5
    tp = np.sum(pred & yy)
    return {"val_bce": round(loss, 4),
            "val_acc_pct": round(100 * float(np.mean(pred == yy)), 2),
            "flag_recall_pct": round(100 * tp / max(1, yy.sum()), 2),
            "flag_precision_pct": round(100 * tp / max(1, pred.sum()), 2)}


def run_epochs(model, opt, step, X, Y, Xv, Yv, first_epoch, last_epoch, bs, rng, session):
    n_local = X.shape[0] // WORLD
    lo = RANK * n_local
    for epoch in range(first_epoch, last_epoch + 1):
        t = time.time()
        perm = lo + rng.permutation(n_local)
        run = []
        for i in range(0, n_local - bs + 1, bs):
            idx = mx.array(perm[i:i + bs])
            loss = step(X[idx], Y[idx])
            mx.eval(loss, model.state, opt.state)
            run.append(loss.item())
        emit(session=session, epoch=epoch, step=int(opt.step.item()),
             lr=round(float(opt.learning_rate.item()), 6),
             train_bce=round(float(np.mean(run)), 4), **metrics(model, Xv, Yv),
             sec=round(time.time() - t, 2))


def main():
    x, y = simulate_positions(26000, seed=1180)
    xv, yv = simulate_positions(4000, seed=1181)
    mu, sd = x.mean(0), x.std(0) + 1e-6
    X, Y = mx.array((x - mu) / sd), mx.array(y)
    Xv, Yv = mx.array((xv - mu) / sd), mx.array(yv)
    bs = 64
    steps_per_epoch = (X.shape[0] // WORLD) // bs
    emit(event="data", world=WORLD, train=int(X.shape[0]), val=int(Xv.shape[0]),
         flag_rate_pct=round(100 * float(y.mean()), 2),
         always_no_flag_acc_pct=round(100 * float(1 - yv.mean()), 2))

    ckpt_dir = tempfile.mkdtemp(prefix="blitzflag_")
    rng = np.random.default_rng(3)

    # ---------------- session 1 ----------------
    mx.random.seed(11)
    model, opt = build(lr_steps=4 * steps_per_epoch)
    mx.eval(model.parameters())
    _, g0 = nn.value_and_grad(model, bce)(model, X[:bs], Y[:bs])
    flat = tree_flatten(g0)
    emit(event="grad_check", leaves=len(flat),
         zero_leaves=[k for k, v in flat if float(mx.abs(v).max()) == 0.0])
    step = make_step(model, opt)
    run_epochs(model, opt, step, X, Y, Xv, Yv, 1, 5, bs, rng, session=1)

    if RANK == 0:
        model.save_weights(os.path.join(ckpt_dir, "flagnet.safetensors"))
        mx.save_safetensors(os.path.join(ckpt_dir, "optimizer.safetensors"),
                            dict(tree_flatten(opt.state)))
        with open(os.path.join(ckpt_dir, "meta.json"), "w") as fh:
            json.dump({"epoch": 5, "rng": rng.bit_generator.state}, fh)
    saved_val = metrics(model, Xv, Yv)["val_bce"]
    emit(event="checkpoint", dir=os.path.basename(ckpt_dir), files=sorted(os.listdir(ckpt_dir)))
    del model, opt, step

    # ---------------- session 2: everything rebuilt from the checkpoint ----------------
    mx.random.seed(999)          # different init, must be overwritten by the load
    model, opt = build(lr_steps=4 * steps_per_epoch)
    model.load_weights(os.path.join(ckpt_dir, "flagnet.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "optimizer.safetensors")).items()))
    with open(os.path.join(ckpt_dir, "meta.json")) as fh:
        meta = json.load(fh)
    rng = np.random.default_rng()
    rng.bit_generator.state = meta["rng"]
    mx.eval(model.parameters(), opt.state)
    reloaded_val = metrics(model, Xv, Yv)["val_bce"]
    emit(event="resume", from_epoch=meta["epoch"], step=int(opt.step.item()),
         val_bce_saved=saved_val, val_bce_reloaded=reloaded_val)
    if abs(saved_val - reloaded_val) > 1e-4:
        sys.exit("checkpoint did not round-trip")
    step = make_step(model, opt)
    run_epochs(model, opt, step, X, Y, Xv, Yv, meta["epoch"] + 1, 12, bs, rng, session=2)
    emit(event="done", **metrics(model, Xv, Yv))

    for f in os.listdir(ckpt_dir):
        os.remove(os.path.join(ckpt_dir, f))
    os.rmdir(ckpt_dir)


if __name__ == "__main__":
    main()
