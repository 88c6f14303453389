# Bird-call syllable tagger: tiny conformer-style encoder over 16-band spectral frames.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
T, D, C = 10, 16, 5          # frames, bands, call types


def make_calls(n):
    y = rng.integers(0, C, n)
    t = np.arange(T)[None, :, None]
    band = np.arange(D)[None, None, :]
    start = (2 + 2 * y)[:, None, None] + rng.normal(0, 0.8, (n, 1, 1))
    slope = np.array([0.9, -0.7, 0.0, 0.4, -0.3])[y][:, None, None]
    centre = start + slope * t
    x = np.exp(-0.5 * ((band - centre) / 1.3) ** 2)
    x += rng.normal(0, 0.35, x.shape)
    return mx.array(x.astype(np.float32)), mx.array(y)


class FeedForward(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.up = nn.Linear(d, h)
        self.down = nn.Linear(h, d)

    def __call__(self, x):
        return self.down(nn.silu(self.up(x)))


class ConformerBlock(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm_ff1 = nn.LayerNorm(d)
        self.ff1 = FeedForward(d, 2 * d)
        self.norm_att = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, 2)
        self.norm_conv = nn.LayerNorm(d)
        self.conv = nn.Conv1d(d, d, kernel_size=3, padding=1, groups=d)
        self.norm_ff2 = nn.LayerNorm(d)
        self.ff2 = FeedForward(d, 2 * d)
        self.norm_out = nn.LayerNorm(d)

    def __call__(self, x):
        x += 0.5 * self.ff1(self.norm_ff1(x))
        h = self.norm_att(x)
        x += self.attn(h, h, h)
        x += self.conv(self.norm_conv(x))
        x += 0.5 * self.ff2(self.norm_ff2(x))
        return self.norm_out(x)


class CallTagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = [ConformerBlock(D) for _ in range(2)]
        self.head = nn.Linear(D, C)

    def __call__(self, x):
        for b in self.blocks:
            x = b(x)
        return self.head(x.mean(axis=1))


Xtr, ytr = make_calls(1500)
Xva, yva = make_calls(500)
model = CallTagger()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=2e-3)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


step = nn.value_and_grad(model, loss_fn)
t0 = time.time()
print("epoch | batch-loss | train-acc | val-loss | val-acc | probes")
va_hist = []
for epoch in range(1, 11):
    perm = rng.permutation(Xtr.shape[0])
    tot = 0.0
    nb = 0
    for i in range(0, len(perm), 50):
        idx = mx.array(perm[i:i + 50])
        loss, grads = step(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
        if nb % 5 == 0:
            va_hist.append((model(Xva).argmax(axis=1) == yva).mean().item())
    tr_acc = (model(Xtr).argmax(axis=1) == ytr).mean().item()
    va_logits = model(Xva)
    va_loss = nn.losses.cross_entropy(va_logits, yva, reduction="mean").item()
    va_acc = (va_logits.argmax(axis=1) == yva).mean().item()
    print(f"{epoch:5d} | {tot / nb:10.4f} | {100 * tr_acc:8.1f}% | {va_loss:8.4f} | {100 * va_acc:6.1f}%"
          f" | probe-acc mean {100 * np.mean(va_hist[-6:]):5.1f}%")
print(f"done in {time.time() - t0:.1f}s")
