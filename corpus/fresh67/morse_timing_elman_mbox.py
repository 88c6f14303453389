# Decode hand-keyed Morse letters from key-down/key-up timings with a small Elman RNN.
import time, string
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

MORSE = {'A': '.-', 'B': '-...', 'C': '-.-.', 'D': '-..', 'E': '.', 'F': '..-.', 'G': '--.',
         'H': '....', 'I': '..', 'J': '.---', 'K': '-.-', 'L': '.-..', 'M': '--', 'N': '-.',
         'O': '---', 'P': '.--.', 'Q': '--.-', 'R': '.-.', 'S': '...', 'T': '-', 'U': '..-',
         'V': '...-', 'W': '.--', 'X': '-..-', 'Y': '-.--', 'Z': '--..'}
LETTERS = string.ascii_uppercase
T = 8  # up to 4 marks + 4 gaps (last gap = inter-letter)
rng = np.random.default_rng(11)


def key_letter(ch):
    """Timings in dot units of one operator keying one letter (with jitter and a personal speed)."""
    speed = rng.uniform(0.7, 1.4)
    seq = np.zeros((T, 2), np.float32)  # (duration, is_mark)
    t = 0
    for j, sym in enumerate(MORSE[ch]):
        dur = (1.0 if sym == '.' else 3.0) * speed * rng.lognormal(0, 0.18)
        seq[t] = (dur, 1.0); t += 1
        gap = (1.0 if j < len(MORSE[ch]) - 1 else 3.0) * speed * rng.lognormal(0, 0.18)
        seq[t] = (gap, -1.0); t += 1
    return seq


def dataset(n):
    y = rng.integers(0, 26, n)
    X = np.stack([key_letter(LETTERS[k]) for k in y])
    X[..., 0] = np.log1p(X[..., 0])  # compress durations; padding stays 0
    return mx.array(X), mx.array(y)


Xtr, ytr = dataset(5200)
Xte, yte = dataset(1040)


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(2, 64)
        self.head = nn.Linear(64 + 64, 26)

    def __call__(self, x):
        h = self.rnn(x)                      # (B, T, 64)
        real = (x[..., 1:2] != 0).astype(h.dtype)  # mask padded steps
        pooled = (h * real).sum(1) / real.sum(1)
        return self.head(mx.concatenate([h[:, -1], pooled], -1))


mx.random.seed(5)
net = Decoder()
mx.eval(net.parameters())
opt = optim.RMSprop(learning_rate=2e-3, alpha=0.95)


def xent(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


step_fn = nn.value_and_grad(net, xent)


def test_metrics():
    logits = net(Xte)
    ce = float(nn.losses.cross_entropy(logits, yte, reduction="mean"))
    pred = mx.argmax(logits, -1)
    acc = float((pred == yte).mean())
    return ce, acc, np.array(pred)


log = []  # silent while training; mailed out at the end
start = time.time()
l0, g0 = step_fn(net, Xtr[:50], ytr[:50])
flat = tree_flatten(g0)
dead = [k for k, v in flat if not bool(mx.any(v != 0))]
chance = float(np.log(26))
BS, EPOCHS = 50, 16
n_steps = len(Xtr) // BS
for epoch in range(EPOCHS):
    if epoch in (8, 12):
        opt.learning_rate = opt.learning_rate * 0.5
    order = mx.array(rng.permutation(len(Xtr)))
    tot = 0.0
    for s in range(n_steps):
        idx = order[s * BS:(s + 1) * BS]
        loss, grads = step_fn(net, Xtr[idx], ytr[idx])
        opt.update(net, grads)
        mx.eval(net.parameters(), opt.state, loss)
        tot += loss.item()
    ce, acc, pred = test_metrics()
    log.append((epoch + 1, tot / n_steps, ce, acc, float(opt.learning_rate), time.time() - start))

yt = np.array(yte)
conf = {}
for a, b in zip(yt, pred):
    if a != b:
        conf[(LETTERS[a], LETTERS[b])] = conf.get((LETTERS[a], LETTERS[b]), 0) + 1
worst = sorted(conf.items(), key=lambda kv: -kv[1])[:4]

print("From morse-trainer@shack.local Thu Nov 26 07:30:00 2026")
print("From: morse-trainer <morse-trainer@shack.local>")
print("To: op@shack.local")
print("Subject: [rnn-decoder] setup")
print(f"X-Data: train={Xtr.shape[0]} test={len(yt)} letters=26 steps/epoch={n_steps}")
print(f"X-Gradcheck: leaves={len(flat)} zero_leaves={dead if dead else 'none'} loss0={float(l0):.3f} chance_ce={chance:.3f}")
print()
print("Starting decoder training, report follows per epoch.")
print()
for ep, tr, ce, acc, lr, el in log:
    print(f"From morse-trainer@shack.local Thu Nov 26 07:30:{ep:02d} 2026")
    print(f"Subject: [rnn-decoder] epoch {ep:02d}/{EPOCHS}")
    print(f"X-Metrics: train_ce={tr:.4f}; test_ce={ce:.4f}; test_acc={acc:.4f}; lr={lr:.1e}; elapsed={el:.1f}s")
    print()
    print(f"Epoch {ep} finished, {acc*100:.1f}% of test letters decoded.")
    print()
print("From morse-trainer@shack.local Thu Nov 26 07:31:00 2026")
print("Subject: [rnn-decoder] summary")
print()
print("Most frequent confusions (true->decoded: count): " + ", ".join(f"{a}->{b}: {c}" for (a, b), c in worst))
print(f"Final test accuracy {log[-1][3]:.4f} (chance {1/26:.4f}).")
