"""Contrastive predictive coding (van den Oord et al.) on glider variometer traces.

Stage 1: a frame encoder + nn.GRU context network learn, without labels, to pick
the true future frame embedding (1..3 frames ahead) out of the other traces in
the batch (InfoNCE). The printed bound log(B) - loss is a lower bound on the
mutual information in nats and should RISE; the loss itself falls.
Stage 2: the encoder is frozen on purpose and a linear probe reads the lift
regime (thermal / sink / ridge / still) from the final context vector. The same
probe on an untrained encoder is trained beside it as the reference.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 23
T, B = 24, 48
Z, C, K = 16, 32, 3
CPC_STEPS, PROBE_STEPS, EVERY = 360, 160, 40

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)
REGIMES = ["thermal", "sink", "ridge", "still"]


def traces(n):
    """Vario (m/s) and audio-tone pitch channels, 2 Hz samples."""
    y = rng.integers(4, size=n)
    t = np.arange(T)[None, :]
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    base = np.select([y[:, None] == 0, y[:, None] == 1, y[:, None] == 2],
                     [1.5 + 1.2 * np.sin(0.45 * t + phase),          # circling in a thermal
                      -1.8 + 0.3 * np.sin(0.9 * t + phase),          # steady sink
                      0.8 + 0.6 * np.sign(np.sin(0.25 * t + phase))],  # ridge beats
                     0.2 * np.sin(0.1 * t + phase))                   # still air
    vario = base + rng.normal(0, 0.45, size=(n, T))
    tone = np.tanh(vario / 2) + rng.normal(0, 0.2, size=(n, T))
    x = np.stack([vario / 2, tone], -1).astype(np.float32)
    return x, y


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.frame = nn.Sequential(nn.Linear(2, 32), nn.GELU(), nn.Linear(32, Z))
        self.gru = nn.GRU(Z, C)

    def __call__(self, x):
        z = self.frame(x)
        return z, self.gru(z)


class CPC(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = Encoder()
        self.heads = [nn.Linear(C, Z, bias=False) for _ in range(K)]

    def __call__(self, x, t):
        z, c = self.enc(x)
        anchor = c[:, t]
        losses, hits = [], []
        labels = mx.arange(x.shape[0])
        for k, head in enumerate(self.heads, start=1):
            scores = head(anchor) @ z[:, t + k].T          # (B, B): row i, future of trace j
            losses.append(nn.losses.cross_entropy(scores, labels, reduction="mean"))
            hits.append(mx.mean(mx.argmax(scores, 1) == labels))
        return mx.stack(losses), mx.stack(hits)


def cpc_loss(model, x, t):
    losses, _ = model(x, t)
    return losses.mean()


model = CPC()
untrained = Encoder()
mx.eval(model.parameters(), untrained.parameters())
opt = optim.Adam(learning_rate=2e-3)
loss_and_grad = nn.value_and_grad(model, cpc_loss)
bound_max = math.log(B)

xv, yv = traces(480)
xv = mx.array(xv)


def held_out():
    tot_l, tot_h = np.zeros(K), np.zeros(K)
    for i in range(0, 480, B):
        l, h = model(xv[i:i + B], T - K - 1)
        tot_l += np.array(l)
        tot_h += np.array(h)
    n = 480 // B
    return tot_l / n, 100 * tot_h / n


t0 = time.time()
print(f"setup :: {T} frames x 2 channels, batch {B} -> InfoNCE ceiling log(B) = {bound_max:.3f} nats, "
      f"chance pick {100 / B:.1f}%")
x0, _ = traces(B)
_, g0 = loss_and_grad(model, mx.array(x0), 12)
flat = tree_flatten(g0)
print(f"setup :: first-batch gradient: {sum(1 for _, a in flat if mx.abs(a).max().item() > 0)}/{len(flat)} leaves non-zero")
l, h = held_out()
print(f"[cpc 0000/{CPC_STEPS}] held-out nce {l.mean():.3f} | bound k=1..3 "
      + " ".join(f"{bound_max - v:.2f}" for v in l) + " | pick% " + " ".join(f"{v:.0f}" for v in h))

window = 0.0
for step in range(1, CPC_STEPS + 1):
    x, _ = traces(B)
    t = int(rng.integers(6, T - K))
    loss, grads = loss_and_grad(model, mx.array(x), t)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window += loss.item()
    if step % EVERY == 0:
        l, h = held_out()
        print(f"[cpc {step:04d}/{CPC_STEPS}] train nce {window / EVERY:.3f} | held-out nce {l.mean():.3f} | bound k=1..3 "
              + " ".join(f"{bound_max - v:.2f}" for v in l) + " | pick% " + " ".join(f"{v:.0f}" for v in h)
              + f" | {time.time() - t0:.1f}s", flush=True)
        window = 0.0

# ------------------------------------------------------------ stage 2: probe
enc = model.enc
enc.freeze()
untrained.freeze()
snapshot = [np.array(v) for _, v in tree_flatten(enc.parameters())]


class Probe(nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder
        self.lin = nn.Linear(C, 4)

    def __call__(self, x):
        _, c = self.encoder(x)
        return self.lin(mx.stop_gradient(c[:, -1]))


def probe_loss(p, x, y):
    return nn.losses.cross_entropy(p(x), y, reduction="mean")


probes = {"cpc": Probe(enc), "untrained": Probe(untrained)}
p_opts = {k: optim.Adam(learning_rate=1e-2) for k in probes}
p_grads = {k: nn.value_and_grad(p, probe_loss) for k, p in probes.items()}
yv_mx = mx.array(yv)
print(f"probe :: encoder frozen, trainable probe weights {sum(v.size for _, v in tree_flatten(probes['cpc'].trainable_parameters()))}, chance 25.0%")
for step in range(1, PROBE_STEPS + 1):
    x, y = traces(64)
    x, y = mx.array(x), mx.array(y)
    for k in probes:
        loss, g = p_grads[k](probes[k], x, y)
        p_opts[k].update(probes[k], g)
        mx.eval(probes[k].trainable_parameters(), p_opts[k].state, loss)
    if step % EVERY == 0:
        accs = {k: 100 * mx.mean(mx.argmax(p(xv), 1) == yv_mx).item() for k, p in probes.items()}
        print(f"[probe {step:03d}/{PROBE_STEPS}] held-out regime acc: cpc {accs['cpc']:.1f}%  untrained {accs['untrained']:.1f}%  "
              f"| {time.time() - t0:.1f}s", flush=True)

drift = max(float(np.abs(np.array(v) - s).max()) for (_, v), s in zip(tree_flatten(enc.parameters()), snapshot))
print(f"done :: encoder drift during probing {drift:.1f} (frozen) | final acc cpc {accs['cpc']:.1f}% vs untrained {accs['untrained']:.1f}% vs chance 25.0% | {time.time() - t0:.1f}s")
