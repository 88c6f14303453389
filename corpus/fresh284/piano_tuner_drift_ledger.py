"""Piano tuner's ledger: how many cents has the piano drifted since the last visit?

Synthetic service records: brand, room type and tuner as categories, five
numeric readings (two of them often not recorded), target = mean drift in cents.
Preprocessing statistics come from the training rows only; brands never seen in
training go to a shared <unk> row of the embedding table.
"""
import json
import os
import shutil
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)

N_TRAIN, N_VAL = 6000, 1500
BRANDS = [f"brand_{i:02d}" for i in range(14)]
RARE = {"brand_12", "brand_13"}          # only ever turn up in the later (validation) ledger
ROOMS = ["parlour", "school_hall", "church", "studio", "conservatory"]
TUNERS = [f"tuner_{i}" for i in range(9)]


def simulate(n, later):
    pool = BRANDS if later else [b for b in BRANDS if b not in RARE]
    brand = rng.choice(pool, size=n)
    room = rng.choice(ROOMS, size=n, p=[0.45, 0.15, 0.12, 0.18, 0.10])
    tuner = rng.choice(TUNERS, size=n)
    months = rng.uniform(0.5, 36.0, size=n)
    age = rng.gamma(2.0, 15.0, size=n)
    humid = rng.normal(22.0, 8.0, size=n).clip(2, 60)          # % RH swing over the season
    heating = rng.integers(0, 2, size=n).astype(np.float64)
    hours = rng.exponential(6.0, size=n)                        # playing hours per week
    b_eff = {b: e for b, e in zip(BRANDS, np.linspace(-3.0, 3.0, len(BRANDS)))}
    r_eff = {"parlour": 0.0, "school_hall": 2.5, "church": 4.0, "studio": -1.0, "conservatory": 5.0}
    t_eff = {t: e for t, e in zip(TUNERS, rng.normal(0.0, 0.6, len(TUNERS)))}
    drift = (
        6.0 * np.log1p(months)
        + 0.25 * humid
        + 0.04 * age
        + 1.5 * heating
        + 0.3 * np.sqrt(hours)
        + np.array([b_eff[b] for b in brand])
        + np.array([r_eff[r] for r in room])
        + np.array([t_eff[t] for t in tuner])
        + rng.normal(0.0, 1.5, size=n)
    )
    # the ledger often lacks the hygrometer reading and the playing hours
    humid = np.where(rng.random(n) < 0.2, np.nan, humid)
    hours = np.where(rng.random(n) < 0.1, np.nan, hours)
    num = np.stack([months, age, humid, heating, hours], axis=1)
    return brand, room, tuner, num, drift


class Prep:
    """Fit on the training ledger, then apply unchanged to any ledger."""

    def fit(self, brand, room, tuner, num):
        self.vocab = [
            {v: i + 1 for i, v in enumerate(sorted(set(col)))} for col in (brand, room, tuner)
        ]
        self.median = np.nanmedian(num, axis=0)
        filled = np.where(np.isnan(num), self.median, num)
        filled[:, 0] = np.log1p(filled[:, 0])
        self.mean = filled.mean(axis=0)
        self.std = filled.std(axis=0) + 1e-8
        return self

    def __call__(self, brand, room, tuner, num):
        cats = np.stack(
            [np.array([voc.get(v, 0) for v in col]) for voc, col in zip(self.vocab, (brand, room, tuner))],
            axis=1,
        )
        miss = np.isnan(num[:, [2, 4]]).astype(np.float32)
        filled = np.where(np.isnan(num), self.median, num)
        filled[:, 0] = np.log1p(filled[:, 0])
        z = (filled - self.mean) / self.std
        return mx.array(cats.astype(np.int32)), mx.array(np.concatenate([z, miss], 1).astype(np.float32))


class LedgerNet(nn.Module):
    def __init__(self, sizes, n_num):
        super().__init__()
        dims = [4, 3, 3]
        self.tables = [nn.Embedding(s + 1, d) for s, d in zip(sizes, dims)]
        self.body = nn.Sequential(
            nn.Linear(sum(dims) + n_num, 64), nn.SiLU(), nn.Linear(64, 32), nn.SiLU(), nn.Linear(32, 1)
        )
        self.bias0 = mx.array([0.0])

    def __call__(self, cats, num):
        parts = [t(cats[:, i]) for i, t in enumerate(self.tables)] + [num]
        return self.body(mx.concatenate(parts, axis=1)).squeeze(-1) + self.bias0


def loss_fn(model, cats, num, y):
    return nn.losses.huber_loss(model(cats, num), y, delta=1.0, reduction="mean")


tr = simulate(N_TRAIN, later=False)
va = simulate(N_VAL, later=True)
prep = Prep().fit(*tr[:4])
cats_tr, num_tr = prep(*tr[:4])
cats_va, num_va = prep(*va[:4])
y_mean, y_std = tr[4].mean(), tr[4].std()
y_tr = mx.array(((tr[4] - y_mean) / y_std).astype(np.float32))
y_va_cents = va[4]

# reference predictors, fitted on the training ledger
med = np.median(tr[4])
per_brand = {b: tr[4][tr[0] == b].mean() for b in set(tr[0])}
ref_median = np.abs(y_va_cents - med).mean()
ref_brand = np.abs(y_va_cents - np.array([per_brand.get(b, med) for b in va[0]])).mean()
unk_share = float((np.asarray(cats_va[:, 0]) == 0).mean())

BATCH, WARM, BASE_LR, EPOCHS, SAVE_AT = 128, 100, 3e-3, 16, 8
steps_per_epoch = N_TRAIN // BATCH


def build():
    model = LedgerNet([len(v) for v in prep.vocab], num_tr.shape[1])
    opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)
    return model, opt


def val_mae(model):
    pred = np.asarray(model(cats_va, num_va)) * y_std + y_mean
    return float(np.abs(pred - y_va_cents).mean()), pred


def run_epochs(model, opt, state, first, last):
    step_fn = nn.value_and_grad(model, loss_fn)
    for epoch in range(first, last + 1):
        perm = rng.permutation(N_TRAIN)
        tot = 0.0
        for k in range(steps_per_epoch):
            state["step"] += 1
            warm = min(1.0, (state["step"] - 1) / WARM)       # first update runs at lr 0.0
            opt.learning_rate = BASE_LR * warm * state["factor"]
            idx = mx.array(perm[k * BATCH:(k + 1) * BATCH])
            loss, grads = step_fn(model, cats_tr[idx], num_tr[idx], y_tr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        mae, _ = val_mae(model)
        note = ""
        if mae < state["best"] - 0.01:
            state["best"], state["stale"] = mae, 0
        else:
            state["stale"] += 1
            if state["stale"] >= 2:
                state["factor"] *= 0.5
                state["stale"] = 0
                note = f"  (plateau: lr factor -> {state['factor']:.3g})"
        if epoch in (1, 4, 8, 12, 16) or note:
            print(
                f"epoch {epoch:2d} | step {state['step']:4d} | lr {float(opt.learning_rate.item()):.2e} | "
                f"train huber(z) {tot / steps_per_epoch:.4f} | val MAE {mae:5.2f} c "
                f"[median {ref_median:5.2f} c, per-brand {ref_brand:5.2f} c]{note}"
            )


print(
    f"ledger: {N_TRAIN} train / {N_VAL} val visits, {len(prep.vocab[0])} known brands, "
    f"{unk_share:.1%} of val visits from brands unseen in training (-> <unk>)"
)
print(f"missing in train: humidity {np.isnan(tr[3][:, 2]).mean():.1%}, hours {np.isnan(tr[3][:, 4]).mean():.1%}")
tic = time.time()
model, opt = build()
state = {"step": 0, "factor": 1.0, "best": float("inf"), "stale": 0}
run_epochs(model, opt, state, 1, SAVE_AT)

ckpt = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckpt, "meta.json"), "w") as f:
    json.dump(state, f)
print(f"checkpoint written after epoch {SAVE_AT} ({len(os.listdir(ckpt))} files)")

del model, opt
model, opt = build()
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
with open(os.path.join(ckpt, "meta.json")) as f:
    state = json.load(f)
print(f"resumed into a fresh model at step {state['step']}, lr factor {state['factor']}")
run_epochs(model, opt, state, SAVE_AT + 1, EPOCHS)

mae, pred = val_mae(model)
unk = np.asarray(cats_va[:, 0]) == 0
print(
    f"final val MAE {mae:.2f} cents (noise sd 1.50) | unseen-brand visits {np.abs(pred - y_va_cents)[unk].mean():.2f} | "
    f"seen {np.abs(pred - y_va_cents)[~unk].mean():.2f} | {time.time() - tic:.1f}s"
)
shutil.rmtree(ckpt)
