"""Which jurisdiction issued this licence plate?

Plates arrive as raw strings from a roadside camera. Stage "clean" trains on
well-formed strings; stage "ocr" switches to what the OCR engine actually emits
(O/0, I/1, B/8, S/5 confusions, dropped separators, stray junk characters,
over-long reads truncated to the window). Each stage restarts its own warmup,
which starts from a learning rate of exactly 0.
"""
import json
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 11
random.seed(SEED)
mx.random.seed(SEED)

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
SPECIALS = ["<pad>", "<unk>", "<bos>"]
VOCAB = SPECIALS + list(LETTERS) + list(DIGITS) + ["-", " "]
STOI = {ch: i for i, ch in enumerate(VOCAB)}
PAD, UNK, BOS = 0, 1, 2
MAX_LEN = 11  # <bos> + 10 characters, longer reads are truncated

REGIONS = ["Albion", "Borduria", "Cascadia", "Dorne", "Elbonia"]


def _L(k):
    return "".join(random.choice(LETTERS) for _ in range(k))


def _D(k):
    return "".join(random.choice(DIGITS) for _ in range(k))


def make_plate(region):
    if region == 0:
        return _L(2) + _D(2) + " " + _L(3)
    if region == 1:
        return _D(3) + "-" + _L(3)
    if region == 2:
        return _L(1) + _D(1) + _L(1) + " " + _D(1) + _L(1) + _D(1)
    if region == 3:
        return _L(2) + "-" + _D(3) + "-" + _L(2)
    return _D(1) + _L(3) + _D(3)


CONFUSE = {"O": "0", "0": "O", "I": "1", "1": "I", "B": "8", "8": "B", "S": "5", "5": "S"}


def ocr_corrupt(s):
    out = []
    for ch in s:
        if ch in " -" and random.random() < 0.35:
            continue  # separator not seen
        if ch in CONFUSE and random.random() < 0.3:
            ch = CONFUSE[ch]
        out.append(ch)
    s = "".join(out)
    if random.random() < 0.25:
        s = random.choice(LETTERS + DIGITS) + s  # bolt head read as a character
    if random.random() < 0.25:
        s = s + random.choice(["?", "*", "."])  # glyph outside the vocabulary
    return s


def encode(s):
    ids = [BOS] + [STOI.get(ch, UNK) for ch in s]
    ids = ids[:MAX_LEN]
    return ids + [PAD] * (MAX_LEN - len(ids))


def make_set(n, noisy):
    xs, ys = [], []
    for _ in range(n):
        r = random.randrange(len(REGIONS))
        s = make_plate(r)
        if noisy:
            s = ocr_corrupt(s)
        xs.append(encode(s))
        ys.append(r)
    return mx.array(xs, dtype=mx.int32), mx.array(ys, dtype=mx.int32)


class PlateNet(nn.Module):
    def __init__(self, vocab, dim=24, width=32, n_cls=5):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(MAX_LEN, dim)
        self.conv = nn.Conv1d(dim, width, kernel_size=3, padding=1)
        self.head = nn.Linear(width, n_cls)

    def __call__(self, ids):
        pad = ids == PAD
        h = self.tok(ids) + self.pos(mx.arange(ids.shape[1]))
        h = nn.relu(self.conv(h))
        h = mx.where(pad[..., None], -1e4, h)
        return self.head(mx.max(h, axis=1))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return (mx.argmax(model(x), axis=1) == y).astype(mx.float32).mean().item()


model = PlateNet(len(VOCAB))
mx.eval(model.parameters())
vg = nn.value_and_grad(model, loss_fn)

STAGES = [("clean", False, 260), ("ocr", True, 340)]
BATCH = 64
WARM = 40
PEAK = 3e-3

print(json.dumps({"event": "config", "vocab": len(VOCAB), "max_len": MAX_LEN,
                  "regions": REGIONS, "batch": BATCH, "peak_lr": PEAK}))

clean_val = make_set(800, noisy=False)
ocr_val = make_set(800, noisy=True)
audited = False

for stage_name, noisy, steps in STAGES:
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK, WARM),
         optim.cosine_decay(PEAK, steps - WARM, 1e-4)], [WARM])
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    train_x, train_y = make_set(steps * BATCH // 4, noisy)
    n = train_x.shape[0]
    for step in range(steps):
        idx = mx.array(random.sample(range(n), BATCH))
        lr_now = float(sched(mx.array(step)).item())
        loss, grads = vg(model, train_x[idx], train_y[idx])
        if not audited:
            flat = dict(nn.utils.tree_flatten(grads))
            norms = {k: round(float(mx.linalg.norm(v.reshape(-1)).item()), 5) for k, v in flat.items()}
            print(json.dumps({"event": "grad_audit", "zero_grad_params": [k for k, v in norms.items() if v == 0.0],
                              "min_norm": min(norms.values()), "n_tensors": len(norms)}))
            audited = True
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 40 == 0 or step == steps - 1:
            rec = {"stage": stage_name, "step": step, "lr": round(lr_now, 6),
                   "loss": float(f"{loss.item():.4g}"),
                   "clean_acc_pct": round(100 * accuracy(model, *clean_val), 1),
                   "ocr_acc_pct": round(100 * accuracy(model, *ocr_val), 1)}
            print(json.dumps(rec))

final = {"event": "summary", "chance_pct": round(100 / len(REGIONS), 1),
         "clean_acc_pct": round(100 * accuracy(model, *clean_val), 1),
         "ocr_acc_pct": round(100 * accuracy(model, *ocr_val), 1),
         "clean_val_loss": float(f"{loss_fn(model, *clean_val).item():.4g}"),
         "ocr_val_loss": float(f"{loss_fn(model, *ocr_val).item():.4g}")}
print(json.dumps(final))
