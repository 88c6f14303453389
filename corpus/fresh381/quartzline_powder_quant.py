"""Quantitative phase analysis of synthetic powder X-ray patterns.

A small Conv1d network reads a 128-bin powder pattern (2-theta 10..74 deg,
0.5 deg per bin) and predicts the weight fractions of four mineral phases.
Training target is the true composition, used as a soft label, so the
cross-entropy can never go below the mean entropy of the compositions.

The run is split in two parts with a checkpoint in between: after part 1
the weights and the optimizer state are written to disk, the objects are
dropped, fresh ones are built and loaded, and part 2 continues.
"""

import json
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

PHASES = ["quartz", "calcite", "dolomite", "kaolinite"]
NBINS = 128
# peak positions (bin index) and relative heights for each phase
PEAKS = {
    "quartz": ([22, 33, 54, 62, 80, 95], [0.22, 1.00, 0.12, 0.10, 0.14, 0.07]),
    "calcite": ([18, 39, 47, 56, 76, 86, 97], [0.10, 1.00, 0.14, 0.18, 0.20, 0.16, 0.06]),
    "dolomite": ([21, 41, 50, 66, 83, 104], [0.08, 1.00, 0.12, 0.20, 0.17, 0.09]),
    "kaolinite": ([4, 16, 24, 31, 71, 112], [1.00, 0.55, 0.30, 0.20, 0.14, 0.10]),
}
# mass-absorption style scale: same weight fraction gives different counts
SCALE = np.array([1.0, 0.85, 0.7, 0.45])


def make_patterns(n, rng):
    comp = rng.dirichlet([0.9, 0.9, 0.9, 0.9], size=n).astype(np.float32)
    bins = np.arange(NBINS, dtype=np.float32)[None, :]
    shift = rng.normal(0.0, 0.7, size=(n, 1)).astype(np.float32)  # sample displacement
    width = rng.uniform(0.9, 1.6, size=(n, 1)).astype(np.float32)
    pat = np.zeros((n, NBINS), dtype=np.float32)
    for k, name in enumerate(PHASES):
        pos, hgt = PEAKS[name]
        for p, h in zip(pos, hgt):
            g = np.exp(-0.5 * ((bins - p - shift) / width) ** 2)
            lor = 1.0 / (1.0 + ((bins - p - shift) / width) ** 2)
            pat += (comp[:, k:k + 1] * SCALE[k] * h) * (0.7 * g + 0.3 * lor)
    # amorphous hump + sloping background
    bg = 0.05 * np.exp(-0.5 * ((bins - 30) / 18) ** 2) + 0.02 * (1 - bins / NBINS)
    pat = pat + bg * rng.uniform(0.5, 1.5, size=(n, 1))
    counts = rng.poisson(pat * 900.0).astype(np.float32)
    counts /= counts.max(axis=1, keepdims=True) + 1e-6
    return counts[..., None], comp  # NLC for Conv1d


class PhaseNet(nn.Module):
    def __init__(self, nphase=4):
        super().__init__()
        self.c1 = nn.Conv1d(1, 8, kernel_size=7, padding=3)
        self.c2 = nn.Conv1d(8, 16, kernel_size=5, stride=2, padding=2)
        self.c3 = nn.Conv1d(16, 16, kernel_size=5, stride=2, padding=2)
        self.fc = nn.Linear(32, 48)
        self.out = nn.Linear(48, nphase)

    def __call__(self, x):
        h = nn.gelu(self.c1(x))
        h = nn.gelu(self.c2(h))
        h = nn.gelu(self.c3(h))
        h = mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)
        return self.out(nn.gelu(self.fc(h)))


def soft_ce(model, x, y):
    logits = model(x)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    return -(y * logp).sum(axis=-1).mean()


def evaluate(model, x, y):
    p = mx.softmax(model(x), axis=-1)
    mae = mx.abs(p - y).mean() * 100.0
    logp = mx.log(p + 1e-12)
    ce = -(y * logp).sum(axis=-1).mean()
    mx.eval(mae, ce)
    return mae.item(), ce.item()


def build(seed, lr_sched):
    mx.random.seed(seed)
    model = PhaseNet()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=lr_sched, weight_decay=1e-4)
    return model, opt


def main():
    t0 = time.time()
    rng = np.random.default_rng(381)
    xtr, ytr = make_patterns(3000, rng)
    xva, yva = make_patterns(600, rng)
    Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))

    floor = float(-(ytr * np.log(ytr + 1e-12)).sum(1).mean())
    mean_comp = ytr.mean(0)
    base_mae = float(np.abs(yva - mean_comp[None]).mean() * 100.0)
    print("== powder QPA: 4 phases, 128 bins, 3000 train / 600 val patterns ==")
    print(f"   phases       {', '.join(PHASES)}")
    print(f"   ce floor     {floor:.4f} nats  (mean entropy of the true compositions)")
    print(f"   reference    predict-mean-composition val MAE = {base_mae:.2f} wt%")

    batch, epochs, split = 64, 12, 6
    steps_per_epoch = len(xtr) // batch
    total = steps_per_epoch * epochs
    warm = 60
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 4e-3, warm), optim.cosine_decay(4e-3, total - warm, 1e-5)],
        [warm],
    )

    model, opt = build(7, sched)
    nparams = sum(v.size for _, v in tree_flatten(model.parameters()))
    mae0, ce0 = evaluate(model, Xva, Yva)
    print(f"   model        PhaseNet, {nparams} parameters; untrained val MAE {mae0:.2f} wt%, ce {ce0:.4f}")

    def run_epochs(model, opt, first, last, perm_rng, step):
        lag = nn.value_and_grad(model, soft_ce)
        for ep in range(first, last + 1):
            perm = perm_rng.permutation(len(xtr))
            tot, n = 0.0, 0
            for b in range(steps_per_epoch):
                idx = mx.array(perm[b * batch:(b + 1) * batch])
                loss, grads = lag(model, Xtr[idx], Ytr[idx])
                if step == 0:
                    before = model.c1.weight
                    lr_now = float(sched(mx.array(0)).item())
                    nz = sum(int(mx.any(g != 0).item()) for _, g in tree_flatten(grads))
                    nleaf = len(tree_flatten(grads))
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state, loss)
                if step == 0:
                    moved = float(mx.abs(model.c1.weight - before).max().item())
                    print(f"   first step   lr {lr_now:.1e}; {nz}/{nleaf} gradient arrays nonzero; "
                          f"largest c1 weight change {moved:.1e}")
                step += 1
                tot += loss.item()
                n += 1
            mae, ce = evaluate(model, Xva, Yva)
            lr = float(opt.learning_rate.item())
            print(f"   ep {ep:02d}/{epochs}  step {step:4d}  lr {lr:.2e}  train_ce {tot / n:.4f}  "
                  f"kl {tot / n - floor:+.4f}  val_ce {ce:.4f}  val_mae {mae:5.2f} wt%  "
                  f"t {time.time() - t0:5.1f}s")
        return step

    perm_rng = np.random.default_rng(5)
    print("== part 1 ==")
    step = run_epochs(model, opt, 1, split, perm_rng, 0)

    ckdir = tempfile.mkdtemp(None, "qpa_ck_")
    wpath = os.path.join(ckdir, "weights.safetensors")
    opath = os.path.join(ckdir, "optimizer.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    with open(os.path.join(ckdir, "meta.json"), "w") as f:
        json.dump({"epoch": split, "step": step}, f)
    mae_saved, ce_saved = evaluate(model, Xva, Yva)
    print("== checkpoint ==")
    print(f"   saved        epoch {split}, step {step}, val_mae {mae_saved:.2f} wt% -> {os.path.basename(ckdir)}")
    del model, opt

    model, opt = build(99, sched)  # fresh objects, different init
    with open(os.path.join(ckdir, "meta.json")) as f:
        meta = json.load(f)
    model.load_weights(wpath)
    opt.state = tree_unflatten(list(mx.load(opath).items()))
    mx.eval(model.parameters(), opt.state)
    mae_loaded, ce_loaded = evaluate(model, Xva, Yva)
    print(f"   loaded       epoch {meta['epoch']}, optimizer step {int(opt.state['step'].item())}, "
          f"val_mae {mae_loaded:.2f} wt% (saved {mae_saved:.2f})")

    print("== part 2 (resumed) ==")
    step = run_epochs(model, opt, meta["epoch"] + 1, epochs, perm_rng, meta["step"])

    p = np.array(mx.softmax(model(Xva), axis=-1))
    per_phase = np.abs(p - yva).mean(0) * 100.0
    print("== per-phase val MAE (wt%) ==")
    for name, e in zip(PHASES, per_phase):
        print(f"   {name:<10s} {e:5.2f}")
    shutil.rmtree(ckdir, ignore_errors=True)
    print(f"== done in {time.time() - t0:.1f}s ==")


if __name__ == "__main__":
    main()
