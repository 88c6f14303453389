"""Community-orchestra box office: will a booked seat stay empty (no-show)?

The train / valid / test split is drawn once, written next to the
checkpoint (indices plus a sha256 digest) and read back on resume, so the
second session trains on exactly the same rows and never sees the test
rows.  The test rows are scored once, at the very end.

Session 1 warms the learning rate up from 0 and trains 5 epochs, then saves
weights, optimizer state and the split.  Session 2 builds everything fresh,
restores it, checks the split digest and continues for 7 epochs without
printing until it is done.
"""
import hashlib
import json
import logging
import os
import sys
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

N = 9000
BATCH = 128
EPOCHS_1, EPOCHS_2 = 5, 7
PEAK_LR = 3e-3


class SessionFormatter(logging.Formatter):
    def format(self, record):
        tag = getattr(record, "tag", "main")
        return f"[{tag:>12}] {record.getMessage()}"


log = logging.getLogger("boxoffice")
_h = logging.StreamHandler(sys.stdout)
_h.setFormatter(SessionFormatter())
log.addHandler(_h)
log.setLevel(logging.INFO)


def make_bookings(seed=11):
    r = np.random.default_rng(seed)
    lead_days = r.exponential(12.0, N)
    price = r.choice([8.0, 12.0, 18.0, 25.0], N, p=[0.3, 0.35, 0.25, 0.1])
    comp = (r.random(N) < 0.12).astype(np.float32)          # complimentary ticket
    group = r.poisson(1.2, N) + 1
    rain = r.gamma(0.8, 3.0, N)
    weekday = r.integers(0, 7, N)
    member = (r.random(N) < 0.3).astype(np.float32)
    prior_ns = r.poisson(0.4, N)
    z = (-2.3 + 0.035 * lead_days - 0.05 * price + 1.4 * comp
         - 0.25 * np.log(group) + 0.08 * rain - 0.6 * member + 0.55 * prior_ns
         + 0.35 * (weekday == 6))
    p = 1 / (1 + np.exp(-z))
    y = (r.random(N) < p).astype(np.float32)
    X = np.stack([np.log1p(lead_days), price, comp, np.log(group), rain,
                  np.sin(2 * np.pi * weekday / 7), np.cos(2 * np.pi * weekday / 7),
                  member, prior_ns], 1).astype(np.float32)
    return X, y, p


def draw_split(n, seed=3):
    r = np.random.default_rng(seed)
    perm = r.permutation(n)
    n_te, n_va = n // 6, n // 6
    split = {"test": np.sort(perm[:n_te]).tolist(),
             "valid": np.sort(perm[n_te:n_te + n_va]).tolist(),
             "train": np.sort(perm[n_te + n_va:]).tolist()}
    return split


def digest(split):
    return hashlib.sha256(json.dumps(split, sort_keys=True).encode()).hexdigest()[:16]


def auc(scores, labels):
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    pos = labels == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


class NoShowNet(nn.Module):
    def __init__(self, d_in):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, 48), nn.SiLU(),
                                  nn.Linear(48, 48), nn.SiLU())
        self.head = nn.Linear(48, 1)

    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)


def bce(model, xb, yb):
    return nn.losses.binary_cross_entropy(model(xb), yb, with_logits=True,
                                          reduction="mean")


class Session:
    def __init__(self, X, y, split, tag, steps_per_epoch):
        self.tag = tag
        tr = np.array(split["train"])
        mu, sd = X[tr].mean(0), X[tr].std(0) + 1e-6
        self.X = {k: mx.array((X[np.array(v)] - mu) / sd) for k, v in split.items()}
        self.y = {k: mx.array(y[np.array(v)]) for k, v in split.items()}
        self.y_np = {k: y[np.array(v)] for k, v in split.items()}
        total = (EPOCHS_1 + EPOCHS_2) * steps_per_epoch
        warm = steps_per_epoch
        self.sched = optim.join_schedules(
            [optim.linear_schedule(0.0, PEAK_LR, warm),
             optim.cosine_decay(PEAK_LR, total - warm, 1e-4)], [warm])
        self.model = NoShowNet(X.shape[1])
        mx.eval(self.model.parameters())
        self.opt = optim.Adam(learning_rate=self.sched)
        self.vg = nn.value_and_grad(self.model, bce)
        self.spe = steps_per_epoch

    def info(self, msg):
        log.info(msg, extra={"tag": self.tag})

    def run_epoch(self, rng):
        perm = mx.array(rng.permutation(len(self.y_np["train"])))
        tot = 0.0
        for i in range(self.spe):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            loss, g = self.vg(self.model, self.X["train"][idx], self.y["train"][idx])
            self.opt.update(self.model, g)
            mx.eval(self.model.parameters(), self.opt.state, loss)
            tot += loss.item()
        return tot / self.spe

    def score(self, part):
        s = self.model(self.X[part])
        ce = bce(self.model, self.X[part], self.y[part]).item()
        return ce, auc(np.array(s), self.y_np[part])

    def save(self, folder, split, epoch, rng):
        self.model.save_weights(os.path.join(folder, "weights.safetensors"))
        mx.save_safetensors(os.path.join(folder, "opt.safetensors"),
                            dict(tree_flatten(self.opt.state)))
        with open(os.path.join(folder, "split.json"), "w") as f:
            json.dump({"split": split, "digest": digest(split)}, f)
        with open(os.path.join(folder, "meta.json"), "w") as f:
            json.dump({"epoch": epoch, "rng": rng.bit_generator.state}, f)

    def restore(self, folder):
        self.model.load_weights(os.path.join(folder, "weights.safetensors"))
        self.opt.state = tree_unflatten(
            list(mx.load(os.path.join(folder, "opt.safetensors")).items()))
        mx.eval(self.model.parameters(), self.opt.state)
        with open(os.path.join(folder, "meta.json")) as f:
            meta = json.load(f)
        rng = np.random.default_rng()
        rng.bit_generator.state = meta["rng"]
        return meta["epoch"], rng


def main():
    t0 = time.perf_counter()
    mx.random.seed(5)
    X, y, p_true = make_bookings()
    split = draw_split(len(X))
    spe = len(split["train"]) // BATCH
    folder = tempfile.mkdtemp()
    base = y[np.array(split["train"])].mean()
    base_ce = -(base * np.log(base) + (1 - base) * np.log(1 - base))
    va_idx = np.array(split["valid"])
    oracle_ce = float(np.mean(-(y[va_idx] * np.log(p_true[va_idx])
                                + (1 - y[va_idx]) * np.log(1 - p_true[va_idx]))))
    log.info(f"bookings {len(X)} | no-show rate {base * 100:.1f}% | split digest "
             f"{digest(split)} | train/valid/test {len(split['train'])}/"
             f"{len(split['valid'])}/{len(split['test'])}", extra={"tag": "data"})
    log.info(f"base-rate ce {base_ce:.4f} | true-probability ce on valid "
             f"{oracle_ce:.4f} (floor) | chance AUC 50.0%", extra={"tag": "data"})

    rng = np.random.default_rng(21)
    s1 = Session(X, y, split, "session 1", spe)
    g = s1.vg(s1.model, s1.X["train"][:BATCH], s1.y["train"][:BATCH])[1]
    zero = [k for k, v in tree_flatten(g) if float(mx.abs(v).sum()) == 0.0]
    s1.info(f"first-batch gradient: {len(tree_flatten(g))} leaves, zero leaves {zero}")
    for ep in range(1, EPOCHS_1 + 1):
        lr0 = float(s1.sched(s1.opt.step))
        tr = s1.run_epoch(rng)
        va_ce, va_auc = s1.score("valid")
        s1.info(f"epoch {ep:02d} lr@start {lr0:.2e} train ce {tr:.4f} "
                f"valid ce {va_ce:.4f} valid AUC {va_auc * 100:.1f}%")
    s1.save(folder, split, EPOCHS_1, rng)
    ref = {k: np.array(v) for k, v in tree_flatten(s1.model.parameters())}
    s1.info(f"checkpoint written to {os.path.basename(folder)} after epoch {EPOCHS_1}")
    del s1

    with open(os.path.join(folder, "split.json")) as f:
        saved = json.load(f)
    split2 = saved["split"]
    assert digest(split2) == saved["digest"] == digest(split)
    overlap = (len(set(split2["train"]) & set(split2["test"]))
               + len(set(split2["valid"]) & set(split2["test"]))
               + len(set(split2["train"]) & set(split2["valid"])))
    s2 = Session(X, y, split2, "session 2", spe)
    start, rng = s2.restore(folder)
    diff = max(float(np.abs(np.array(v) - ref[k]).max())
               for k, v in tree_flatten(s2.model.parameters()))
    s2.info(f"resumed at epoch {start}, optimizer step {int(s2.opt.step)}, split "
            f"digest {digest(split2)} (matches), index overlap {overlap}, "
            f"max weight diff {diff:.1e}; training quietly for {EPOCHS_2} epochs")
    hist = []
    for ep in range(start + 1, start + EPOCHS_2 + 1):
        tr = s2.run_epoch(rng)
        hist.append((ep, tr) + s2.score("valid"))
    for ep, tr, va_ce, va_auc in hist:
        s2.info(f"epoch {ep:02d} train ce {tr:.4f} valid ce {va_ce:.4f} "
                f"valid AUC {va_auc * 100:.1f}%")
    te_ce, te_auc = s2.score("test")
    s2.info(f"test (scored once): ce {te_ce:.4f} vs base-rate {base_ce:.4f} | "
            f"AUC {te_auc * 100:.1f}% vs chance 50.0%")
    log.info(f"done in {time.perf_counter() - t0:.1f}s", extra={"tag": "main"})


if __name__ == "__main__":
    main()
