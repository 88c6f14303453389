# Classify noisy Morse-code keying signals (26 letters) with a small 1-D conv net.
# Signals: on/off envelope with random dot length (tempo), jitter, fading and
# additive noise, 96 samples, left-aligned with a random lead-in.
# The log is a LaTeX tabular (header, \hline, one row per epoch, \end{tabular}).
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

MORSE = {"A": ".-", "B": "-...", "C": "-.-.", "D": "-..", "E": ".", "F": "..-.",
         "G": "--.", "H": "....", "I": "..", "J": ".---", "K": "-.-", "L": ".-..",
         "M": "--", "N": "-.", "O": "---", "P": ".--.", "Q": "--.-", "R": ".-.",
         "S": "...", "T": "-", "U": "..-", "V": "...-", "W": ".--", "X": "-..-",
         "Y": "-.--", "Z": "--.."}
LETTERS = sorted(MORSE)
T = 96
rng = np.random.default_rng(5)
mx.random.seed(5)


def key(letter):
    unit = rng.uniform(2.2, 4.0)
    sig = np.zeros(T, np.float32)
    pos = rng.uniform(0, 8)
    for sym in MORSE[letter]:
        n = unit * (1 if sym == "." else 3) * rng.uniform(0.85, 1.15)
        a, b = int(pos), int(min(T, pos + n))
        sig[a:b] = rng.uniform(0.6, 1.0)
        pos += n + unit * rng.uniform(0.8, 1.2)
    sig *= np.linspace(1.0, rng.uniform(0.6, 1.0), T).astype(np.float32)
    return sig + rng.normal(0, 0.25, T).astype(np.float32)


def dataset(n):
    y = rng.integers(0, 26, n)
    x = np.stack([key(LETTERS[i]) for i in y])[..., None]
    return mx.array(x), mx.array(y)


Xtr, ytr = dataset(3000)
Xte, yte = dataset(800)


class MorseNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 16, 5, padding=2)
        self.c2 = nn.Conv1d(16, 32, 5, padding=2)
        self.c3 = nn.Conv1d(32, 32, 3, padding=1)
        self.fc = nn.Linear(32 * 12, 26)

    def __call__(self, x):
        x = nn.relu(self.c1(x)); x = x.reshape(x.shape[0], -1, 2, x.shape[-1]).max(2)
        x = nn.relu(self.c2(x)); x = x.reshape(x.shape[0], -1, 2, x.shape[-1]).max(2)
        x = nn.relu(self.c3(x)); x = x.reshape(x.shape[0], -1, 2, x.shape[-1]).max(2)
        return self.fc(x.reshape(x.shape[0], -1))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = MorseNet()
sched = optim.cosine_decay(2e-3, 10 * (3000 // 64), end=1e-4)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
lg = nn.value_and_grad(model, loss_fn)

print(r"\begin{tabular}{r r r r r l}")
print(r"epoch & train CE & test CE & test acc (\%) & sec & worst letter (acc) \\")
print(r"\hline")
t0 = time.time()
for epoch in range(1, 11):
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    tot, nb = 0.0, 0
    for i in range(0, Xtr.shape[0] - 63, 64):
        idx = perm[i:i + 64]
        loss, g = lg(model, Xtr[idx], ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item(); nb += 1
    logits = model(Xte)
    te_ce = nn.losses.cross_entropy(logits, yte, reduction="mean").item()
    pred = np.array(mx.argmax(logits, -1)); yt = np.array(yte)
    acc = float((pred == yt).mean()) * 100
    per = [((pred == yt) & (yt == c)).sum() / max(1, (yt == c).sum()) for c in range(26)]
    w = int(np.argmin(per))
    print(f"{epoch:2d} & {tot / nb:.4f} & {te_ce:.4f} & {acc:5.1f}\\% & {time.time() - t0:5.1f} & "
          f"{LETTERS[w]} ({per[w]:.2f}) \\\\", flush=True)
print(r"\end{tabular}")
