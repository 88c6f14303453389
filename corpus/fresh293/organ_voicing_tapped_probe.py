"""Pipe-organ voicing bench: classify how a flue pipe speaks (slow / clean / overblown)
from ten bench measurements. A small residual MLP with a deep-supervision side head on the
first block. Stage "shape": side head weighted into the objective (weight cosine-decays to 0).
Stage "tune": the side head keeps learning as a read-out probe on frozen-gradient features,
the trunk is trained by the main head only. A checkpoint is written halfway through "tune"
and the run continues from a freshly built model/optimizer loaded from it.
"""
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


def make_pipes(n):
    # wind pressure, mouth cut-up, languid height, flue width, toe bore, scale,
    # lip thickness, nicking depth, temperature, humidity
    x = rng.normal(size=(n, 10)).astype(np.float32)
    speech = (1.1 * x[:, 0] - 0.9 * x[:, 1] + 0.6 * x[:, 2] * x[:, 4]
              + 0.5 * np.tanh(2 * x[:, 3]) - 0.4 * x[:, 7] ** 2 + 0.3 * x[:, 5]
              + rng.normal(scale=0.45, size=n))
    y = np.digitize(speech, [-0.9, 0.7]).astype(np.int32)  # 0 slow, 1 clean, 2 overblown
    return x, y


xtr, ytr = make_pipes(6000)
xva, yva = make_pipes(1500)
mu, sd = xtr.mean(0), xtr.std(0)
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))
majority = max(np.bincount(yva, minlength=3)) / len(yva)


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.l1 = nn.Linear(d, 2 * d)
        self.l2 = nn.Linear(2 * d, d)

    def __call__(self, h):
        return h + self.l2(nn.gelu(self.l1(self.norm(h))))


class VoicingNet(nn.Module):
    def __init__(self, d=48):
        super().__init__()
        self.inp = nn.Linear(10, d)
        self.b1 = Block(d)
        self.b2 = Block(d)
        self.side = nn.Linear(d, 3)
        self.main = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 3))

    def __call__(self, x, probe_only=False):
        h1 = self.b1(self.inp(x))
        h2 = self.b2(h1)
        side_in = mx.stop_gradient(h1) if probe_only else h1
        return self.main(h2), self.side(side_in)


def objective(model, x, y, w_side, probe_only):
    main, side = model(x, probe_only)
    l_main = nn.losses.cross_entropy(main, y, reduction="mean")
    l_side = nn.losses.cross_entropy(side, y, reduction="mean")
    # in the probe stage the side loss is added with weight 1: its gradient
    # cannot reach the trunk through the stopped features
    return l_main + w_side * l_side, (l_main, l_side)


def accuracy(model):
    main, side = model(Xva)
    a_main = mx.mean(mx.argmax(main, axis=1) == Yva).item()
    a_side = mx.mean(mx.argmax(side, axis=1) == Yva).item()
    return a_main, a_side


def save_ckpt(path, model, opt):
    mx.savez(path + "_model.npz", **dict(tree_flatten(model.parameters())))
    mx.savez(path + "_opt.npz", **dict(tree_flatten(opt.state)))


def load_ckpt(path, model, opt):
    model.load_weights(path + "_model.npz")
    opt.state = tree_unflatten(list(mx.load(path + "_opt.npz").items()))


BATCH = 128
SHAPE_STEPS, TUNE_STEPS = 450, 400
sched_shape = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, 60), optim.cosine_decay(3e-3, SHAPE_STEPS - 60, 3e-4)], [60])
sched_tune = optim.cosine_decay(6e-4, TUNE_STEPS, 5e-5)

model = VoicingNet()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=sched_shape, weight_decay=1e-3)

print("stage\tstep\tlr\tw_side\tobjective\tce_main\tce_side\tacc_main\tacc_side\tmajority")
a0, s0 = accuracy(model)
print(f"init\t0\t-\t-\t-\t-\t-\t{a0:.3f}\t{s0:.3f}\t{majority:.3f}")


def run(stage, steps, model, opt, start=0, stop=None, t0=None):
    vg = nn.value_and_grad(model, objective)
    stop = steps if stop is None else stop
    for step in range(start, stop):
        idx = mx.array(rng.integers(0, len(xtr), BATCH))
        if stage == "shape":
            w = 0.25 * (1.0 + float(np.cos(np.pi * step / steps)))
            probe = False
        else:
            w, probe = 1.0, True
        lr = opt.learning_rate.item()
        (tot, (lm, ls)), g = vg(model, Xtr[idx], Ytr[idx], w, probe)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, tot)
        if step % 50 == 0 or step == steps - 1:
            am, asd = accuracy(model)
            print(f"{stage}\t{step}\t{lr:.2e}\t{w:.3f}\t{tot.item():.4f}\t{lm.item():.4f}\t"
                  f"{ls.item():.4f}\t{am:.3f}\t{asd:.3f}\t{majority:.3f}")


t0 = time.time()
run("shape", SHAPE_STEPS, model, opt)

opt = optim.AdamW(learning_rate=sched_tune, weight_decay=1e-3)
half = TUNE_STEPS // 2
run("tune", TUNE_STEPS, model, opt, 0, half)
with tempfile.TemporaryDirectory() as d:
    ck = os.path.join(d, "voicing")
    save_ckpt(ck, model, opt)
    before = accuracy(model)
    model = VoicingNet()
    opt = optim.AdamW(learning_rate=sched_tune, weight_decay=1e-3)
    load_ckpt(ck, model, opt)
    after = accuracy(model)
    print(f"# resumed from checkpoint at tune step {half}: opt step={opt.state['step'].item()} "
          f"acc before={before[0]:.3f} after={after[0]:.3f}")
    run("tune", TUNE_STEPS, model, opt, half, TUNE_STEPS)

am, asd = accuracy(model)
print(f"# done: val accuracy main={am:.3f} side-probe={asd:.3f} majority-class={majority:.3f} "
      f"time={time.time() - t0:.1f}s")
