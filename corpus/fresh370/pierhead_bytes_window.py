# Byte-level language model of harbour tannoy announcements in four languages.
# The stream is raw UTF-8, so accented letters, Greek and kana take 2-3 bytes each.
# An MLP over the previous 10 bytes predicts the next byte; it is scored in bits per
# byte (overall and per byte class) next to what zlib and lzma need for the same
# validation bytes.
import lzma
import math
import random
import time
import zlib

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = random.Random(7)
mx.random.seed(7)

PORTS = {
    "en": ["Kirkwall", "Stromness", "Lerwick", "Oban"],
    "de": ["Fähre", "Föhr", "Amrum", "Helgoland", "Sylt"],
    "el": ["Νάξος", "Πάρος", "Σύρος", "Τήνος"],
    "ja": ["おおしま", "にいじま", "こうづしま", "みやけじま"],
}


def announcement():
    lang = rng.choice(list(PORTS))
    port = rng.choice(PORTS[lang])
    hh, mm = rng.randint(5, 22), rng.choice([0, 10, 15, 20, 30, 40, 45, 50])
    pier = rng.randint(1, 6)
    late = rng.random() < 0.3
    if lang == "en":
        s = f"The ferry to {port} departs at {hh:02d}:{mm:02d} from pier {pier}."
        if late:
            s += f" Delay {rng.randint(5, 40)} min."
    elif lang == "de":
        s = f"Die Fähre nach {port} fährt um {hh:02d}:{mm:02d} ab Anleger {pier}."
        if late:
            s += f" Verspätung {rng.randint(5, 40)} Min."
    elif lang == "el":
        s = f"Το πλοίο για {port} αναχωρεί στις {hh:02d}:{mm:02d} από την αποβάθρα {pier}."
        if late:
            s += f" Καθυστέρηση {rng.randint(5, 40)} λεπτά."
    else:
        s = f"{port}ゆきのフェリーは{hh:02d}:{mm:02d}に{pier}ばんのりばからしゅっぱつします。"
        if late:
            s += f"{rng.randint(5, 40)}ふんおくれ。"
    return s + "\n"


def byte_stream(n_lines):
    return "".join(announcement() for _ in range(n_lines)).encode("utf-8")


train_bytes = byte_stream(1500)
val_bytes = byte_stream(60)

CTX = 10


def windows(raw):
    arr = np.frombuffer(b"\n" * CTX + raw, dtype=np.uint8).astype(np.int32)
    idx = np.arange(len(raw))[:, None] + np.arange(CTX)[None, :]
    return arr[idx], arr[CTX:]


tr_x, tr_y = windows(train_bytes)
va_x, va_y = windows(val_bytes)


def byte_class(y):
    # 0 = ASCII, 1 = UTF-8 lead byte, 2 = continuation byte
    return np.where(y < 0x80, 0, np.where(y >= 0xC0, 1, 2))


va_cls = byte_class(va_y)


def comp_bpb(fn):
    return 8.0 * len(fn(val_bytes)) / len(val_bytes)


zlib_bpb = comp_bpb(lambda b: zlib.compress(b, 9))
lzma_bpb = comp_bpb(lambda b: lzma.compress(b, preset=9))
counts = np.bincount(np.frombuffer(train_bytes, dtype=np.uint8), minlength=256) + 1e-9
p0 = counts / counts.sum()
unigram_bpb = float(-(p0 * np.log2(p0)).sum())


class ByteWindowNet(nn.Module):
    def __init__(self, dim=24, hidden=256):
        super().__init__()
        self.embed = nn.Embedding(256, dim)
        self.fc1 = nn.Linear(CTX * dim, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, 256)

    def __call__(self, x):
        z = self.embed(x).reshape(x.shape[0], -1)
        z = nn.gelu(self.fc1(z))
        z = z + nn.gelu(self.fc2(z))
        return self.head(z)


model = ByteWindowNet()
mx.eval(model.parameters())

STEPS = 360
WARM = 40
PEAK = 3e-3
BATCH = 256
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, STEPS - WARM, 1e-4)], [WARM]
)
opt = optim.AdamW(learning_rate=schedule, weight_decay=0.01)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)


def train_step(x, y):
    loss, grads = grad_fn(model, x, y)
    grads, _ = optim.clip_grad_norm(grads, 1.0)
    opt.update(model, grads)
    return loss


def evaluate():
    logits = model(mx.array(va_x))
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    tok = mx.take_along_axis(logp, mx.array(va_y)[:, None], axis=-1)[:, 0]
    tok = np.array(-tok) / math.log(2.0)
    per = np.array([tok[va_cls == j].mean() for j in range(3)])
    return float(tok.mean()), per


def row(*cells):
    print("| " + " | ".join(cells) + " |")


share = np.bincount(byte_class(np.frombuffer(val_bytes, dtype=np.uint8)).ravel(), minlength=3)
print(f"#+TITLE: pierhead announcements, byte window net, {len(train_bytes)} train / {len(val_bytes)} val bytes")
print(
    f"#+CAPTION: val bytes ascii/lead/cont = {share[0]}/{share[1]}/{share[2]}; "
    f"zlib {zlib_bpb:.3f} bpb, lzma {lzma_bpb:.3f} bpb, unigram {unigram_bpb:.3f} bpb"
)
row("step", "lr", "train bpb", "val bpb", "ascii", "lead", "cont", "zlib", "s")
print("|------+----+-----------+---------+-------+------+------+------+---|")

t0 = time.time()
np_rng = np.random.default_rng(7)
window = []
for step in range(1, STEPS + 1):
    idx = np_rng.integers(0, len(tr_y), BATCH)
    lr_now = float(schedule(opt.step))
    loss = train_step(mx.array(tr_x[idx]), mx.array(tr_y[idx]))
    mx.eval(loss, model.parameters(), opt.state)
    window.append(loss.item() / math.log(2.0))
    if step in (1, 2, WARM) or step % 120 == 0:
        vb, per = evaluate()
        row(
            f"{step}",
            f"{lr_now:.2e}",
            f"{np.mean(window):.3f}",
            f"{vb:.3f}",
            f"{per[0]:.3f}",
            f"{per[1]:.3f}",
            f"{per[2]:.3f}",
            f"{zlib_bpb:.3f}",
            f"{time.time() - t0:.1f}",
        )
        window = []

vb, per = evaluate()
print(f"#+RESULT: val {vb:.3f} bpb = {100 * (1 - vb / zlib_bpb):.1f}% fewer bits than zlib-9, "
      f"{100 * (1 - vb / lzma_bpb):.1f}% fewer than lzma-9")
