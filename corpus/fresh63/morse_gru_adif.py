"""Decode single Morse letters from a noisy on/off keying envelope.

Conv front-end + GRU over time, last hidden state -> 26 letters.
Progress is logged as an ADIF (amateur radio log) file: one record per epoch.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

CODES = {"A": ".-", "B": "-...", "C": "-.-.", "D": "-..", "E": ".", "F": "..-.", "G": "--.",
         "H": "....", "I": "..", "J": ".---", "K": "-.-", "L": ".-..", "M": "--", "N": "-.",
         "O": "---", "P": ".--.", "Q": "--.-", "R": ".-.", "S": "...", "T": "-", "U": "..-",
         "V": "...-", "W": ".--", "X": "-..-", "Y": "-.--", "Z": "--.."}
LETTERS = sorted(CODES)
T = 48


def key_letter(code, rng):
    unit = rng.integers(1, 3)            # 1 or 2 samples per dot (keying speed)
    env = []
    for i, sym in enumerate(code):
        if i:
            env += [0.0] * unit
        env += [1.0] * (unit * (1 if sym == "." else 3))
    env = np.array(env, dtype=np.float32)
    out = np.zeros(T, dtype=np.float32)
    start = rng.integers(0, T - len(env) + 1)
    out[start:start + len(env)] = env * rng.uniform(0.6, 1.4)
    return out + rng.normal(0, 0.2, T).astype(np.float32)


def make_set(n, rng):
    y = rng.integers(0, 26, n)
    x = np.stack([key_letter(CODES[LETTERS[k]], rng) for k in y])
    return mx.array(x[..., None]), mx.array(y.astype(np.int32))


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 16, 5, padding=2)
        self.c2 = nn.Conv1d(16, 32, 5, stride=2, padding=2)
        self.gru = nn.GRU(32, 64)
        self.out = nn.Linear(64, 26)

    def __call__(self, x):
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))
        h = self.gru(h)
        return self.out(h[:, -1])


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


rng = np.random.default_rng(11)
xtr, ytr = make_set(4000, rng)
xva, yva = make_set(1000, rng)
mx.random.seed(0)
model = Decoder()
mx.eval(model.parameters())
lg = nn.value_and_grad(model, loss_fn)

EPOCHS, BS = 8, 64
steps = EPOCHS * (len(ytr) // BS)
opt = optim.AdamW(learning_rate=optim.cosine_decay(3e-3, steps, 1e-4), weight_decay=1e-4)

print("Morse decoder training log")
print("<ADIF_VER:5>3.1.4 <PROGRAMID:11>morse-gru <EOH>")
_, g0 = lg(model, xtr[:BS], ytr[:BS])
from mlx.utils import tree_flatten
leaves = tree_flatten(g0)
zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
z = ",".join(zero) if zero else "none"
print(f"<CALL:8>GRADCHEK <COMMENT:{len(f'{len(leaves)} leaves zero={z}')}>{len(leaves)} leaves zero={z} <EOR>")

t0 = time.perf_counter()
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(len(ytr)))
    tot, nb = 0.0, 0
    for i in range(0, len(ytr) - BS + 1, BS):
        idx = perm[i:i + BS]
        loss, grads = lg(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item(); nb += 1
    logits = model(xva)
    vce = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
    vacc = (mx.argmax(logits, axis=-1) == yva).mean().item()
    fields = {"CALL": f"EPOCH{ep:02d}", "TRAIN_CE": f"{tot / nb:.4f}", "VAL_CE": f"{vce:.4f}",
              "VAL_ACC": f"{vacc:.3f}", "LR": f"{opt.learning_rate.item():.2e}",
              "SECS": f"{time.perf_counter() - t0:.1f}"}
    print(" ".join(f"<{k}:{len(v)}>{v}" for k, v in fields.items()) + " <EOR>")

pred = np.array(mx.argmax(model(xva), axis=-1))
yv = np.array(yva)
worst = sorted((float((pred[yv == k] == k).mean()), LETTERS[k]) for k in range(26) if (yv == k).any())[:3]
w = " ".join(f"{l}={a:.2f}" for a, l in worst)
print(f"<CALL:6>SUMMRY <COMMENT:{len(w)}>{w} <EOR>")
