"""Plastics recovery facility: name the polymer of a shredded flake from a
24-band near-infrared reflectance spectrum (synthetic absorption bands,
carbon-black dimming, moisture band, sensor noise).

Data pipeline:
  * epochs 1-3: plain shuffled minibatches;
  * from epoch 4: a quarter of every minibatch is re-drawn from the flakes with the
    highest last-seen loss (a per-flake loss table kept by the sampler; drawn
    from the top quarter), so the loss on the *sampled* batches jumps up on
    purpose; the whole-train-set loss is printed beside it and keeps falling,
    while the held-out numbers sit on their plateau (PET/PVC and PP/PS overlap
    in the noise, so ~92% accuracy is about what the data allows);
  * after epoch 5 the run is checkpointed (weights + optimizer state in
    safetensors, sampler table and RNG state in npz/json), every object is
    thrown away, rebuilt from disk, and training continues.
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

POLYMERS = ["PET", "HDPE", "PVC", "LDPE", "PP", "PS"]
SHARE = np.array([0.34, 0.24, 0.03, 0.16, 0.17, 0.06])
BANDS = 24
EPOCHS = 10
CKPT_AFTER = 5
BATCH = 64
HARD_FROM = 4

rng = np.random.default_rng(2671)
mx.random.seed(2671)

grid = np.linspace(0.0, 1.0, BANDS)
centres = rng.uniform(0.05, 0.95, size=(len(POLYMERS), 3))
depths = rng.uniform(0.06, 0.2, size=(len(POLYMERS), 3))
centres[2] = centres[0] + rng.normal(0, 0.025, 3)     # PVC sits close to PET
centres[5] = centres[4] + rng.normal(0, 0.015, 3)     # PS close to PP


def make_flakes(n):
    y = rng.choice(len(POLYMERS), size=n, p=SHARE)
    base = 0.8 - 0.1 * grid[None, :]
    spec = np.repeat(base, n, axis=0)
    for k in range(3):
        c = centres[y, k][:, None]
        d = depths[y, k][:, None]
        spec -= d * np.exp(-((grid[None, :] - c) ** 2) / (2 * 0.035 ** 2))
    dark = rng.uniform(0.55, 1.0, size=(n, 1))          # carbon black / dirt
    spec *= dark
    wet = rng.uniform(0, 0.08, size=(n, 1))
    spec -= wet * np.exp(-((grid[None, :] - 0.62) ** 2) / (2 * 0.05 ** 2))
    spec += rng.normal(0, 0.05, size=spec.shape)
    # first derivative + standard normal variate, as sorters do
    d1 = np.diff(spec, axis=1, prepend=spec[:, :1])
    snv = (spec - spec.mean(1, keepdims=True)) / spec.std(1, keepdims=True)
    return np.concatenate([snv, 10 * d1], axis=1).astype(np.float32), y.astype(np.int32)


class FlakeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2 * BANDS, 96), nn.GELU(),
                                  nn.Linear(96, 96), nn.GELU())
        self.head = nn.Linear(96, len(POLYMERS))

    def __call__(self, x):
        return self.head(self.body(x))


def per_flake_ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y)


def loss_fn(model, x, y):
    return per_flake_ce(model, x, y).mean()


class HardMiningSampler:
    def __init__(self, n, seed):
        self.n = n
        self.table = np.full(n, np.log(len(POLYMERS)), dtype=np.float64)
        self.rng = np.random.default_rng(seed)

    def epoch(self, hard):
        order = self.rng.permutation(self.n)
        for s in range(0, self.n - BATCH + 1, BATCH):
            ids = order[s:s + BATCH]
            if hard:
                k = BATCH // 4
                top = np.argpartition(-self.table, self.n // 4)[:self.n // 4]
                ids = np.concatenate([ids[:BATCH - k], self.rng.choice(top, size=k, replace=False)])
            yield ids

    def record(self, ids, losses):
        self.table[ids] = losses

    def save(self, path):
        np.savez(path + ".npz", table=self.table)
        with open(path + ".json", "w") as f:
            json.dump(self.rng.bit_generator.state, f)

    @classmethod
    def load(cls, path):
        table = np.load(path + ".npz")["table"]
        s = cls(len(table), 0)
        s.table = table
        with open(path + ".json") as f:
            s.rng.bit_generator.state = json.load(f)
        return s


def scores(model, x, y):
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y).mean()
    pred = np.array(logits.argmax(-1))
    yt = np.array(y)
    recalls, f1s = [], []
    for c in range(len(POLYMERS)):
        tp = np.sum((pred == c) & (yt == c))
        fn = np.sum((pred != c) & (yt == c))
        fp = np.sum((pred == c) & (yt != c))
        r = tp / max(tp + fn, 1)
        p = tp / max(tp + fp, 1)
        recalls.append(r)
        f1s.append(0 if p + r == 0 else 2 * p * r / (p + r))
    return ce.item(), 100 * float(np.mean(pred == yt)), 100 * float(np.mean(recalls)), \
        100 * float(np.mean(f1s)), 100 * recalls[2]


def build(lr_sched):
    model = FlakeNet()
    opt = optim.AdamW(learning_rate=lr_sched, weight_decay=1e-4)
    return model, opt


def main():
    t0 = time.perf_counter()
    xtr, ytr = make_flakes(9000)
    xva, yva = make_flakes(2500)
    Xtr, Ytr, Xva, Yva = mx.array(xtr), mx.array(ytr), mx.array(xva), mx.array(yva)
    steps_per_epoch = len(xtr) // BATCH
    total = steps_per_epoch * EPOCHS
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, steps_per_epoch), optim.cosine_decay(2e-3, total - steps_per_epoch, 1e-4)],
        [steps_per_epoch])

    maj = 100 * float(np.mean(yva == np.bincount(ytr).argmax()))
    counts = ", ".join("{} {}".format(p, int(c)) for p, c in zip(POLYMERS, np.bincount(ytr, minlength=6)))
    print("flakes: train {} ({}), valid {}".format(len(xtr), counts, len(xva)))
    print("baselines: majority-class accuracy {:.1f}%, balanced accuracy 16.7%, macro-F1 of majority {:.1f}%".format(
        maj, 100 * 2 * (maj / 100) / (1 + maj / 100) / 6))

    model, opt = build(sched)
    mx.eval(model.parameters())
    sampler = HardMiningSampler(len(xtr), seed=99)
    vg = nn.value_and_grad(model, loss_fn)
    ckdir = tempfile.mkdtemp(None, "nir_ckpt_")

    print("{:>3} {:>5} {:>9} {:>10} {:>10} {:>9} {:>7} {:>7} {:>7} {:>7}".format(
        "ep", "mode", "lr", "batch_ce", "plain_ce", "valid_ce", "acc%", "bal%", "mF1%", "PVC%"))
    for ep in range(1, EPOCHS + 1):
        hard = ep >= HARD_FROM
        tot = 0.0
        nb = 0
        for ids in sampler.epoch(hard):
            idx = mx.array(ids)
            xb, yb = Xtr[idx], Ytr[idx]
            loss, grads = vg(model, xb, yb)
            opt.update(model, grads)
            per = per_flake_ce(model, xb, yb)
            mx.eval(model.parameters(), opt.state, loss, per)
            sampler.record(ids, np.array(per))
            tot += loss.item()
            nb += 1
        plain = loss_fn(model, Xtr, Ytr).item()
        vce, acc, bal, mf1, pvc = scores(model, Xva, Yva)
        print("{:>3} {:>5} {:>9.2e} {:>10.4f} {:>10.4f} {:>9.4f} {:>7.1f} {:>7.1f} {:>7.1f} {:>7.1f}".format(
            ep, "hard" if hard else "plain", opt.learning_rate.item(), tot / nb, plain, vce, acc, bal, mf1, pvc))

        if ep == CKPT_AFTER:
            wpath = os.path.join(ckdir, "weights.safetensors")
            opath = os.path.join(ckdir, "optimizer.safetensors")
            model.save_weights(wpath)
            mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
            sampler.save(os.path.join(ckdir, "sampler"))
            before = loss_fn(model, Xva, Yva).item()
            step_before = opt.step.item()
            del model, opt, sampler, vg
            model, opt = build(sched)
            model.load_weights(wpath)
            opt.state = tree_unflatten(list(mx.load(opath).items()))
            sampler = HardMiningSampler.load(os.path.join(ckdir, "sampler"))
            vg = nn.value_and_grad(model, loss_fn)
            mx.eval(model.parameters(), opt.state)
            after = loss_fn(model, Xva, Yva).item()
            print("-- checkpoint after epoch {}: {} files, step {} -> resumed at step {}, valid ce {:.4f} -> {:.4f}".format(
                ep, len(os.listdir(ckdir)), step_before, opt.step.item(), before, after))

    shutil.rmtree(ckdir)
    vce, acc, bal, mf1, pvc = scores(model, Xva, Yva)
    print("done: valid acc {:.1f}% (majority {:.1f}%), balanced {:.1f}%, macro-F1 {:.1f}%, PVC recall {:.1f}%, {:.1f}s".format(
        acc, maj, bal, mf1, pvc, time.perf_counter() - t0))


if __name__ == "__main__":
    main()
