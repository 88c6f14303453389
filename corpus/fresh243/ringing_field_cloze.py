"""Masked-field pretraining on bird-ringing records, with a mid-run checkpoint and resume.

Each record is a short sequence of field tokens (species, age, sex, wing band,
mass band, site, month, optional moult/fat fields). A one-block encoder learns to
fill in masked fields from the others. Halfway through, the run saves model and
optimizer state, drops everything, rebuilds from the files and carries on. In the
second half the masking rate is raised, so the loss is expected to go up.
"""
import math
import os
import random
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

random.seed(11)
mx.random.seed(11)

SPECIES = {
    "robin": ("wing_68_72", "mass_16_19", ["garden", "hedge"]),
    "wren": ("wing_45_49", "mass_08_11", ["hedge", "reedbed"]),
    "blackcap": ("wing_72_77", "mass_16_19", ["garden", "scrub"]),
    "sedge_warbler": ("wing_64_68", "mass_10_13", ["reedbed", "marsh"]),
    "blue_tit": ("wing_62_66", "mass_10_13", ["garden", "woodland"]),
    "chiffchaff": ("wing_56_60", "mass_06_09", ["woodland", "scrub"]),
    "reed_bunting": ("wing_76_81", "mass_18_22", ["reedbed", "marsh"]),
    "goldcrest": ("wing_51_55", "mass_05_07", ["woodland", "conifer"]),
}
AGES = ["age_juv", "age_1y", "age_adult"]
SEXES = ["sex_m", "sex_f", "sex_u"]
MONTHS = [f"month_{m:02d}" for m in range(1, 13)]
EXTRA = ["moult_active", "moult_none", "fat_0", "fat_1", "fat_2", "fat_3"]

SPECIALS = ["[PAD]", "[MASK]", "[CLS]"]
VOCAB = SPECIALS + list(SPECIES) + sorted({v[0] for v in SPECIES.values()}) + sorted({v[1] for v in SPECIES.values()}) \
    + sorted({s for v in SPECIES.values() for s in v[2]}) + AGES + SEXES + MONTHS + EXTRA
TOK = {t: i for i, t in enumerate(VOCAB)}
PAD, MASK, CLS = 0, 1, 2
MAX_LEN = 11


def record():
    sp = random.choice(list(SPECIES))
    wing, mass, sites = SPECIES[sp]
    month = random.randint(1, 12)
    age = "age_juv" if month in (6, 7, 8) and random.random() < 0.7 else random.choice(AGES[1:])
    sex = "sex_u" if age == "age_juv" else random.choice(SEXES)
    fields = [sp, age, sex, wing, mass, random.choice(sites), f"month_{month:02d}"]
    if month in (7, 8, 9):
        fields.append("moult_active" if random.random() < 0.8 else "moult_none")
    if random.random() < 0.5:
        fields.append(f"fat_{min(3, int(random.expovariate(1.0)))}")
    return [CLS] + [TOK[f] for f in fields]


def batchify(recs):
    arr = [r + [PAD] * (MAX_LEN - len(r)) for r in recs]
    return mx.array(arr)


def mask_batch(ids, rate):
    real = (ids != PAD) & (ids != CLS)
    chosen = (mx.random.uniform(shape=ids.shape) < rate) & real
    # make sure every row has at least one chosen field
    first_real = mx.zeros(ids.shape, dtype=mx.bool_).at[:, 1].add(True)
    chosen = chosen | (first_real & (chosen.sum(axis=1, keepdims=True) == 0))
    return mx.where(chosen, MASK, ids), chosen


class Encoder(nn.Module):
    def __init__(self, vocab, dim=48, heads=4):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(MAX_LEN, dim)
        self.ln1 = nn.LayerNorm(dim)
        self.attn = nn.MultiHeadAttention(dim, heads)
        self.ln2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.ln_out = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab)

    def __call__(self, ids):
        x = self.tok(ids) + self.pos(mx.arange(ids.shape[1]))
        bias = mx.where(ids == PAD, -1e9, 0.0)[:, None, None, :]
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask=bias)
        x = x + self.ff(self.ln2(x))
        return self.head(self.ln_out(x))


def masked_loss(model, inp, target, chosen):
    ce = nn.losses.cross_entropy(model(inp), target, reduction="none")
    w = chosen.astype(mx.float32)
    return (ce * w).sum() / w.sum()


def masked_accuracy(model, inp, target, chosen):
    pred = mx.argmax(model(inp), axis=-1)
    w = chosen.astype(mx.float32)
    return (((pred == target) * w).sum() / w.sum()).item()


def build(total_steps):
    model = Encoder(len(VOCAB))
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, 30), optim.cosine_decay(2e-3, total_steps - 30, 5e-5)], [30]
    )
    opt = optim.Adam(learning_rate=sched)
    return model, opt, sched


def save_state(folder, model, opt):
    mx.save_safetensors(os.path.join(folder, "model.safetensors"), dict(tree_flatten(model.parameters())))
    mx.save_safetensors(os.path.join(folder, "optimizer.safetensors"), dict(tree_flatten(opt.state)))


def load_state(folder, model, opt):
    model.load_weights(os.path.join(folder, "model.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(folder, "optimizer.safetensors")).items()))


def main():
    t0 = time.time()
    train = [record() for _ in range(6000)]
    val = batchify([record() for _ in range(400)])
    total, switch = 240, 120

    # frequency baseline: always answer the most common token of the masked position
    pos_counts = {}
    for r in train:
        for p, t in enumerate(r[1:], start=1):
            pos_counts.setdefault(p, {}).setdefault(t, 0)
            pos_counts[p][t] += 1
    base = mx.array([0] + [max(pos_counts[p], key=pos_counts[p].get) if p in pos_counts else PAD for p in range(1, MAX_LEN)])

    model, opt, sched = build(total)
    print("step,phase,mask_rate,lr,train_masked_ce,val_masked_ce,val_masked_acc,position_baseline_acc")
    step_fn = nn.value_and_grad(model, masked_loss)
    probe_inp, probe_chosen = None, None
    folder = tempfile.TemporaryDirectory()
    ema = None
    step = 0
    while step < total:
        phase = "p1" if step < switch else "p2"
        rate = 0.15 if phase == "p1" else 0.40
        recs = random.sample(train, 64)
        ids = batchify(recs)
        inp, chosen = mask_batch(ids, rate)
        loss, grads = step_fn(model, inp, ids, chosen)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        ema = loss.item() if ema is None else 0.9 * ema + 0.1 * loss.item()
        step += 1
        if step % 20 == 0 or step == 1:
            mx.random.seed(1000 + step)
            v_inp, v_chosen = mask_batch(val, rate)
            v_ce = masked_loss(model, v_inp, val, v_chosen).item()
            v_acc = masked_accuracy(model, v_inp, val, v_chosen)
            b_pred = mx.broadcast_to(base, val.shape)
            w = v_chosen.astype(mx.float32)
            b_acc = (((b_pred == val) * w).sum() / w.sum()).item()
            lr_now = sched(mx.array(step - 1)).item()
            print(f"{step},{phase},{rate:.2f},{lr_now:.3e},{ema:.4f},{v_ce:.4f},{v_acc:.4f},{b_acc:.4f}", flush=True)
        if step == switch:
            mx.random.seed(7)
            probe_inp, probe_chosen = mask_batch(val, 0.15)
            before = masked_loss(model, probe_inp, val, probe_chosen).item()
            save_state(folder.name, model, opt)
            del model, opt, step_fn
            model, opt, sched = build(total)
            load_state(folder.name, model, opt)
            step_fn = nn.value_and_grad(model, masked_loss)
            after = masked_loss(model, probe_inp, val, probe_chosen).item()
            print(f"# checkpoint at step {step}: probe ce {before:.4f} before save, {after:.4f} after reload; "
                  f"optimizer step counter {opt.step.item()}", flush=True)
    folder.cleanup()
    print(f"# finished {total} steps in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
