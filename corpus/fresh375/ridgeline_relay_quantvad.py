"""Mountain-rescue relay logger: find the frames where somebody is talking.

Clips are 48 frames x 16 log-mel bands from a ridge-top repeater: voiced
stretches (harmonic stacks with formant bumps that drift), wind hiss, and
squelch clicks that are loud but not speech. Most clips are unlabelled, so the
encoder is first pre-trained HuBERT-style (spans of frames are masked and the
model predicts k-means acoustic units of the raw frames under the mask), then a
linear probe is fitted on the frozen encoder, then everything is fine-tuned on
the small labelled set.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

T, B, D = 40, 16, 32
V = 24          # acoustic units from k-means
rng = np.random.default_rng(7)
mx.random.seed(7)


def make_clips(n, rng):
    x = np.zeros((n, T, B), np.float32)
    y = np.zeros((n, T), np.float32)
    bands = np.arange(B)
    for i in range(n):
        wind = rng.uniform(0.2, 0.9)
        x[i] = wind * (0.6 + 0.4 * np.linspace(1, 0, B))[None, :]
        x[i] += rng.normal(0, 0.35, (T, B))
        t = int(rng.integers(0, 6))
        while t < T - 4:
            if rng.random() < 0.55:
                L = int(rng.integers(6, 16))
                f0 = rng.uniform(1.0, 3.0)
                f1 = rng.uniform(4, 8)
                f2 = rng.uniform(9, 14)
                for u in range(t, min(T, t + L)):
                    drift = 0.6 * math.sin(0.5 * (u - t))
                    harm = 0.8 * (np.cos(2 * np.pi * bands / f0) > 0.3)
                    form = 1.6 * np.exp(-0.5 * ((bands - f1 - drift) / 1.4) ** 2)
                    form += 1.2 * np.exp(-0.5 * ((bands - f2 + drift) / 1.8) ** 2)
                    x[i, u] += harm * form + 0.4 * form
                    y[i, u] = 1.0
                t += L + int(rng.integers(2, 8))
            else:
                r = rng.random()
                if r < 0.35:  # squelch click: broadband and loud
                    x[i, t] += rng.uniform(2.0, 3.0)
                    x[i, min(T - 1, t + 1)] += rng.uniform(1.0, 2.0)
                    t += int(rng.integers(3, 7))
                elif r < 0.75:  # wind gust: smooth, low-tilted, several frames
                    L = int(rng.integers(4, 10))
                    tilt = np.linspace(1.8, 0.6, B) * rng.uniform(0.8, 1.4)
                    for u in range(t, min(T, t + L)):
                        x[i, u] += tilt * math.sin(math.pi * (u - t + 0.5) / L)
                    t += L + int(rng.integers(1, 4))
                else:
                    t += int(rng.integers(3, 9))
    mu = x.mean(axis=(1, 2), keepdims=True)
    sd = x.std(axis=(1, 2), keepdims=True) + 1e-5
    return (x - mu) / sd, y


unlab_x, _ = make_clips(1200, rng)
lab_x, lab_y = make_clips(160, rng)
val_x, val_y = make_clips(200, rng)
raw_val_energy = val_x.mean(axis=2)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(B, D, kernel_size=3, padding=1)
        self.c2 = nn.Conv1d(D, D, kernel_size=3, padding=1)
        self.norm = nn.LayerNorm(D)
        self.pos = nn.Embedding(T, D)
        self.ctx = nn.TransformerEncoder(num_layers=1, dims=D, num_heads=4,
                                         mlp_dims=2 * D)

    def features(self, x):
        return nn.gelu(self.c2(nn.gelu(self.c1(x))))

    def context(self, f):
        h = self.norm(f) + self.pos(mx.arange(T))
        return self.ctx(h, None)

    def __call__(self, x):
        return self.context(self.features(x))


def kmeans(frames, k, iters, rng):
    cent = frames[rng.choice(len(frames), k, replace=False)]
    for _ in range(iters):
        d = ((frames[:, None, :] - cent[None]) ** 2).sum(-1)
        lab = d.argmin(1)
        for c in range(k):
            pick = frames[lab == c]
            if len(pick):
                cent[c] = pick.mean(0)
    return cent


def assign(x, cent):
    flat = x.reshape(-1, x.shape[-1])
    d = ((flat[:, None, :] - cent[None]) ** 2).sum(-1)
    return d.argmin(1).reshape(x.shape[:-1]).astype(np.int32)


class Pretrainer(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.mask_emb = mx.random.normal((D,)) * 0.1
        self.predict = nn.Linear(D, V)

    def __call__(self, x, mask, units):
        f = self.encoder.features(x)
        masked = mx.where(mask[..., None], self.mask_emb, f)
        logits = self.predict(self.encoder.context(masked))
        ce = nn.losses.cross_entropy(logits, units, reduction="none")
        m = mask.astype(ce.dtype)
        masked_ce = (ce * m).sum() / m.sum()
        seen_ce = (ce * (1 - m)).sum() / (1 - m).sum()
        return masked_ce, seen_ce


def mask_batch(n, rng):
    # three spans of 4 frames per clip (spans may overlap)
    starts = rng.integers(0, T - 4, (n, 3))
    mask = np.zeros((n, T), bool)
    for o in range(4):
        np.put_along_axis(mask, starts + o, True, axis=1)
    return mx.array(mask)


def global_norm(grads):
    return math.sqrt(sum(float((g * g).sum()) for _, g in tree_flatten(grads)))


def frame_scores(enc, head, x):
    return mx.sigmoid(head(enc(mx.array(x))).squeeze(-1))


def hangover(pred, keep=2):
    out = pred.copy()
    for i in range(out.shape[0]):
        run = 0
        for t in range(out.shape[1]):
            if pred[i, t]:
                run = keep
            elif run > 0:
                out[i, t] = 1
                run -= 1
    return out


def frame_metrics(pred, truth):
    tp = float((pred * truth).sum())
    fp = float((pred * (1 - truth)).sum())
    fn = float(((1 - pred) * truth).sum())
    f1 = 2 * tp / max(1.0, 2 * tp + fp + fn)
    err = float((pred != truth).mean())
    return 100 * f1, 100 * err


def toml_table(name, rows):
    print(f"[[{name}]]")
    for k, v in rows:
        if isinstance(v, str):
            print(f'{k} = "{v}"')
        else:
            print(f"{k} = {v}")
    print()


t0 = time.time()
print("# ridgeline relay logger: self-supervised encoder, then voice activity")
print(f"# unlabelled {len(unlab_x)} clips, labelled {len(lab_x)}, held out {len(val_x)}; "
      f"{T} frames x {B} bands\n")

speech_share = float(val_y.mean())
always = np.ones_like(val_y)
thr = np.median(raw_val_energy)
energy_pred = (raw_val_energy > thr).astype(np.float32)
toml_table("reference", [
    ("speech_frame_share_pct", round(100 * speech_share, 1)),
    ("always_speech_f1_pct", round(frame_metrics(always, val_y)[0], 1)),
    ("always_speech_error_pct", round(frame_metrics(always, val_y)[1], 1)),
    ("energy_median_f1_pct", round(frame_metrics(energy_pred, val_y)[0], 1)),
    ("energy_median_error_pct", round(frame_metrics(energy_pred, val_y)[1], 1)),
    ])

# ---------------- stage 1: masked unit prediction pre-training --------------
frames = unlab_x.reshape(-1, B)
cent = kmeans(frames[rng.choice(len(frames), 6000, replace=False)].copy(), V, 10, rng)
units_all = assign(unlab_x, cent)
freq = np.bincount(units_all.ravel(), minlength=V) / units_all.size
prior_nats = float(-(freq * np.log(freq + 1e-12)).sum())
toml_table("units", [
    ("clusters", V), ("kmeans_iters", 10),
    ("uniform_nats", round(math.log(V), 4)), ("cluster_prior_nats", round(prior_nats, 4)),
])

pre = Pretrainer()
steps1, bs1 = 200, 24
sched1 = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, 30), optim.cosine_decay(2e-3, steps1 - 30, 2e-4)],
    [30])
opt1 = optim.AdamW(learning_rate=sched1, weight_decay=1e-2)


def pre_loss(model, x, mask, units):
    masked_ce, seen_ce = model(x, mask, units)
    return masked_ce, seen_ce


loss_grad1 = nn.value_and_grad(pre, pre_loss)

window = []
for step in range(1, steps1 + 1):
    idx = rng.integers(0, len(unlab_x), bs1)
    mask = mask_batch(bs1, rng)
    lr_now = float(opt1.learning_rate) if step > 1 else 0.0
    (loss, seen), grads = loss_grad1(pre, mx.array(unlab_x[idx]), mask,
                                      mx.array(units_all[idx]))
    if step == 1:
        gn = global_norm(grads)
    opt1.update(pre, grads)
    mx.eval(pre.parameters(), opt1.state, loss, seen)
    window.append((float(loss), float(seen)))
    if step == 1 or step % 40 == 0:
        w = np.array(window)
        toml_table("pretrain", [
            ("step", step), ("lr", f"{lr_now:.2e}"),
            ("masked_unit_nats", round(float(w[:, 0].mean()), 4)),
            ("unmasked_unit_nats", round(float(w[:, 1].mean()), 4)),
        ] + ([("first_grad_norm", round(gn, 4))] if step == 1 else []))
        window = []

# checkpoint the pre-trained encoder, throw everything away, reload
ckpt_dir = tempfile.mkdtemp()
enc_path = os.path.join(ckpt_dir, "encoder.safetensors")
pre.encoder.save_weights(enc_path)
del pre, opt1

encoder = Encoder()
encoder.load_weights(enc_path)
mx.eval(encoder.parameters())
snapshot = {k: np.array(v) for k, v in tree_flatten(encoder.parameters())}


def drift(enc):
    cur = dict(tree_flatten(enc.parameters()))
    return max(float(np.abs(np.array(cur[k]) - v).max()) for k, v in snapshot.items())


# ---------------- stage 2: linear probe on the frozen encoder ----------------
class Tagger(nn.Module):
    def __init__(self, enc):
        super().__init__()
        self.enc = enc
        self.head = nn.Linear(D, 1)

    def __call__(self, x):
        return self.head(self.enc(x)).squeeze(-1)


def bce(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, with_logits=True, reduction="mean")


def evaluate(model):
    logits = model(mx.array(val_x))
    p = np.array(mx.sigmoid(logits))
    raw = (p > 0.5).astype(np.float32)
    smooth = hangover(raw.astype(bool)).astype(np.float32)
    val_loss = float(nn.losses.binary_cross_entropy(logits, mx.array(val_y),
                                                    with_logits=True, reduction="mean"))
    return val_loss, frame_metrics(raw, val_y), frame_metrics(smooth, val_y)


tagger = Tagger(encoder)
tagger.enc.freeze()
opt2 = optim.SGD(learning_rate=0.3, momentum=0.9)
lg2 = nn.value_and_grad(tagger, bce)
for epoch in range(1, 7):
    perm = rng.permutation(len(lab_x))
    tot = 0.0
    for s in range(0, len(perm), 20):
        b = perm[s:s + 20]
        loss, g = lg2(tagger, mx.array(lab_x[b]), mx.array(lab_y[b]))
        opt2.update(tagger, g)
        mx.eval(tagger.parameters(), opt2.state)
        tot += float(loss) * len(b)
    if epoch in (1, 3, 6):
        vl, (f1, er), (f1h, erh) = evaluate(tagger)
        toml_table("probe", [
            ("epoch", epoch), ("train_bce", round(tot / len(lab_x), 4)),
            ("val_bce", round(vl, 4)), ("val_f1_pct", round(f1, 1)),
            ("val_error_pct", round(er, 1)), ("val_f1_hangover_pct", round(f1h, 1)),
            ("encoder_max_abs_change", f"{drift(encoder):.6f}"),
        ])

# ---------------- stage 3: unfreeze and fine-tune everything -----------------
tagger.enc.unfreeze()
steps3 = 8 * math.ceil(len(lab_x) / 20)
sched3 = optim.join_schedules(
    [optim.linear_schedule(0.0, 4e-4, 8), optim.cosine_decay(4e-4, steps3 - 8, 4e-5)], [8])
opt3 = optim.Adam(learning_rate=sched3)
lg3 = nn.value_and_grad(tagger, bce)
for epoch in range(1, 9):
    perm = rng.permutation(len(lab_x))
    tot = 0.0
    for s in range(0, len(perm), 20):
        b = perm[s:s + 20]
        loss, g = lg3(tagger, mx.array(lab_x[b]), mx.array(lab_y[b]))
        opt3.update(tagger, g)
        mx.eval(tagger.parameters(), opt3.state)
        tot += float(loss) * len(b)
    if epoch % 2 == 0:
        vl, (f1, er), (f1h, erh) = evaluate(tagger)
        toml_table("finetune", [
            ("epoch", epoch), ("lr", f"{float(opt3.learning_rate):.2e}"),
            ("train_bce", round(tot / len(lab_x), 4)), ("val_bce", round(vl, 4)),
            ("val_f1_pct", round(f1, 1)), ("val_error_pct", round(er, 1)),
            ("val_f1_hangover_pct", round(f1h, 1)), ("val_error_hangover_pct", round(erh, 1)),
            ("encoder_max_abs_change", f"{drift(encoder):.6f}"),
        ])

vl, (f1, er), (f1h, erh) = evaluate(tagger)
toml_table("summary", [
    ("val_f1_pct", round(f1, 1)), ("val_error_pct", round(er, 1)),
    ("val_f1_hangover_pct", round(f1h, 1)), ("seconds", round(time.time() - t0, 1)),
])
