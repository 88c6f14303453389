# Contrastive timbre embedding for synthetic violin notes.
# Two "microphone takes" of the same note (different bow noise / gain) should map
# close together; other notes in the batch are negatives (InfoNCE).
# Stage 2 lowers the temperature (sharper contrast); the loss scale shifts and the
# iteration counter restarts at the stage boundary.
import json
import math
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_NOTES, N_BINS = 256, 48
mx.random.seed(11)
# each note: fundamental bin + a per-note harmonic envelope
f0 = mx.random.randint(1, 6, (N_NOTES,))
env = mx.random.uniform(0.2, 1.0, (N_NOTES, 8))
bins = mx.arange(N_BINS)[None, :]
base = mx.zeros((N_NOTES, N_BINS))
for h in range(8):
    peak = f0[:, None] * (h + 1)
    base = base + env[:, h:h + 1] * mx.exp(-0.5 * ((bins - peak) / 0.8) ** 2)
mx.eval(base)


def take(key):
    k1, k2 = mx.random.split(key)
    gain = mx.random.uniform(0.7, 1.3, (N_NOTES, 1), key=k1)
    noise = 0.08 * mx.random.normal((N_NOTES, N_BINS), key=k2)
    return mx.log1p(base * gain + mx.abs(noise))


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_BINS, 96)
        self.l2 = nn.Linear(96, 96)
        self.proj = nn.Linear(96, 24)

    def __call__(self, x):
        h = nn.relu(self.l1(x))
        h = nn.relu(self.l2(h)) + h
        z = self.proj(h)
        return z / mx.sqrt(mx.sum(z * z, axis=-1, keepdims=True) + 1e-6)


def info_nce(model, a, b, tau):
    za, zb = model(a), model(b)
    logits = (za @ zb.T) / tau
    labels = mx.arange(a.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, labels, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, labels, reduction="mean"))


model = Encoder()
mx.eval(model.parameters())
warm = optim.linear_schedule(0.0, 0.05, 40)  # starts at exactly 0
opt = optim.SGD(learning_rate=optim.join_schedules([warm, optim.cosine_decay(0.05, 400, 0.005)], [40]),
                momentum=0.9, nesterov=True)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(a, b, tau):
    loss, grads = nn.value_and_grad(model, info_nce)(model, a, b, tau)
    opt.update(model, grads)
    return loss


def recall_at_1(enc, key):
    ka, kb = mx.random.split(key)
    za, zb = enc(take(ka)), enc(take(kb))
    hit = mx.argmax(za @ zb.T, axis=1) == mx.arange(N_NOTES)
    return float(mx.mean(hit.astype(mx.float32)).item())


probe_key = mx.random.key(999)
baseline = recall_at_1(Encoder(), probe_key)  # untrained encoder, for reference
key = mx.random.key(5)
for stage, (tau, iters) in enumerate([(0.5, 220), (0.1, 220)], start=1):
    t = mx.array(tau)
    for it in range(1, iters + 1):
        key, ka, kb, kp = mx.random.split(key, 4)
        idx = mx.random.permutation(N_NOTES, key=kp)[:64]
        a, b = take(ka)[idx], take(kb)[idx]
        loss = step(a, b, t)
        mx.eval(loss, state)
        if it == 1 or it % 55 == 0:
            rec = {"stage": stage, "it": it, "tau": tau, "nce": round(loss.item(), 4),
                   "nce_chance": round(math.log(64), 4),
                   "lr": round(float(opt.learning_rate.item()), 5)}
            if it % 110 == 0:
                rec["r@1"] = round(recall_at_1(model, probe_key), 3)
                rec["r@1_untrained"] = round(baseline, 3)
            print(json.dumps(rec))
print(json.dumps({"done": True, "r@1": round(recall_at_1(model, probe_key), 3),
                  "r@1_untrained": round(baseline, 3)}))
