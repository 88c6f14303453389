# Saddlery workshop: which zone of the hide (butt / shoulder / belly / neck /
# flank) a cut panel came from, from 10 tannery gauge readings.
# Runs on a reclaimable worker: checkpoints every 100 optimizer steps and, when
# the worker is reclaimed, reloads the last checkpoint and replays from there.
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

ZONES = ["butt", "shoulder", "belly", "neck", "flank"]
TOTAL_STEPS, WARMUP, PEAK_LR = 600, 60, 3e-3
MICRO, ACCUM, CKPT_EVERY, LOG_EVERY = 32, 4, 100, 20
Z_COEF = 1e-3
RECLAIM_AT = 340


class WorkerReclaimed(Exception):
    pass


def make_hides(n, seed):
    r = np.random.default_rng(seed)
    zone = r.choice(5, size=n, p=[0.34, 0.22, 0.2, 0.12, 0.12])
    centers = np.random.default_rng(0).standard_normal((5, 10)).astype(np.float32) * 0.45
    x = centers[zone] + r.standard_normal((n, 10)).astype(np.float32)
    x[:, 0] += 0.6 * (zone == 0) - 0.4 * (zone == 2)          # thickness mm
    x[:, 3] = np.abs(x[:, 3]) * (1 + (zone == 4))             # stretch %
    flip = r.random(n) < 0.08                                 # mislabelled panels
    zone = np.where(flip, r.integers(0, 5, n), zone)
    return x.astype(np.float32), zone.astype(np.int32)


class ZoneNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(10, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 5)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))


def objective(model, x, y):
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    z = mx.logsumexp(logits, axis=-1)
    zl = Z_COEF * mx.mean(z * z)
    return ce + zl, (ce, zl)


def build():
    mx.random.seed(11)
    model = ZoneNet()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP),
         optim.linear_schedule(PEAK_LR, 1e-4, TOTAL_STEPS - WARMUP)], [WARMUP])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-2)
    opt.init(model.trainable_parameters())
    return model, opt


def save_ckpt(d, step, model, opt):
    model.save_weights(os.path.join(d, "model.safetensors"))
    mx.save_safetensors(os.path.join(d, "opt.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump({"step": step}, f)


def load_ckpt(d):
    model, opt = build()
    model.load_weights(os.path.join(d, "model.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(d, "opt.safetensors")).items()))
    with open(os.path.join(d, "meta.json")) as f:
        step = json.load(f)["step"]
    return model, opt, step


def run(model, opt, start, xtr, ytr, xva, yva, base_acc, ckdir, log, reclaim):
    grad_fn = nn.value_and_grad(model, objective)
    for step in range(start + 1, TOTAL_STEPS + 1):
        r = np.random.default_rng(1000 + step)              # batch order is a function of the step
        idx = r.integers(0, xtr.shape[0], size=(ACCUM, MICRO))
        acc_g, ce_sum, zl_sum = None, 0.0, 0.0
        for k in range(ACCUM):
            b = mx.array(idx[k])
            (_, (ce, zl)), g = grad_fn(model, xtr[b], ytr[b])
            acc_g = g if acc_g is None else tree_map_add(acc_g, g)
            ce_sum += ce.item(); zl_sum += zl.item()
        acc_g = tree_unflatten([(k, v / ACCUM) for k, v in tree_flatten(acc_g)])
        lr = opt.learning_rate.item()
        opt.update(model, acc_g)
        mx.eval(model.parameters(), opt.state)
        ce_m, zl_m = ce_sum / ACCUM, zl_sum / ACCUM
        log[step] = log.get(step, []) + [ce_m]
        if step % LOG_EVERY == 0:
            va = float((mx.argmax(model(xva), -1) == yva).mean()) * 100
            print(f"step {step:4d}  lr {lr:.2e}  ce {ce_m:.4f}  z {zl_m:.5f}  "
                  f"val acc {va:5.1f}%  (majority {base_acc:.1f}%)")
        if step % CKPT_EVERY == 0:
            save_ckpt(ckdir, step, model, opt)
            print(f"  checkpoint @ {step}")
        if reclaim and step == RECLAIM_AT:
            raise WorkerReclaimed(step)
    return model


def tree_map_add(a, b):
    fa, fb = dict(tree_flatten(a)), dict(tree_flatten(b))
    return tree_unflatten([(k, fa[k] + fb[k]) for k in fa])


def main():
    t0 = time.time()
    xtr, ytr = make_hides(8000, 3)
    xva, yva = make_hides(2000, 4)
    mu, sd = xtr.mean(0), xtr.std(0)
    xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
    base_acc = float(np.mean(yva == np.bincount(ytr).argmax()) * 100)
    xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))
    print(f"panels train {xtr.shape[0]} val {xva.shape[0]}; zones {ZONES}; "
          f"effective batch {MICRO * ACCUM}; warmup {WARMUP} steps from lr 0")
    ckdir = tempfile.mkdtemp("_hide_ckpt")
    model, opt = build()
    log = {}
    try:
        run(model, opt, 0, xtr, ytr, xva, yva, base_acc, ckdir, log, reclaim=True)
    except WorkerReclaimed as e:
        print(f"worker reclaimed at step {e.args[0]}; reloading last checkpoint")
        del model, opt
        model, opt, start = load_ckpt(ckdir)
        print(f"resumed at step {start} (optimizer step {int(opt.state['step'])})")
        model = run(model, opt, start, xtr, ytr, xva, yva, base_acc, ckdir, log, reclaim=False)
    replayed = [s for s, v in log.items() if len(v) > 1]
    dev = max(abs(log[s][0] - log[s][1]) for s in replayed)
    print(f"replayed steps {min(replayed)}-{max(replayed)}: max |ce first - ce replay| {dev:.2e}")
    logits = model(xva)
    va = float((mx.argmax(logits, -1) == yva).mean()) * 100
    vce = float(nn.losses.cross_entropy(logits, yva, reduction="mean"))
    print(f"final val acc {va:.1f}%  val ce {vce:.4f}  majority {base_acc:.1f}%  "
          f"uniform ce {np.log(5):.4f}  ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
