# dawn chorus: match the same bird-song snippet heard by two field microphones
# (a cheap omni mic A with a fixed, frozen analog front-end; a shotgun mic B).
# Symmetric InfoNCE, learnable logit scale clamped through a custom VJP,
# Lion optimizer, compiled train step, one JSON object per logged epoch.
import json
import math
import sys
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(2024)
LATENT, DA, DB, EMB = 10, 32, 20, 16
N_TR, N_TE = 6000, 512

mix_a = mx.random.normal((LATENT, DA)) / math.sqrt(LATENT)
mix_b = mx.random.normal((LATENT, DB)) / math.sqrt(LATENT)


def record(n):
    song = mx.random.normal((n, LATENT))          # species/call/individual factors
    wind = 0.35 * mx.random.normal((n, DA))        # mic A hears wind
    hiss = 0.25 * mx.random.normal((n, DB))        # mic B preamp hiss
    a = mx.tanh(song @ mix_a) + wind
    b = (song @ mix_b) ** 2 * 0.3 + song @ mix_b + hiss
    return a, b


a_tr, b_tr = record(N_TR)
a_te, b_te = record(N_TE)
mx.eval(a_tr, b_tr, a_te, b_te)

MAX_LOGIT = math.log(100.0)


@mx.custom_function
def clamped_scale(s):
    return mx.exp(mx.minimum(s, MAX_LOGIT))


@clamped_scale.vjp
def _clamped_scale_vjp(primals, cotangent, output):
    # straight-through: keep a gradient even when the clamp is active
    return (cotangent * output,)


class Tower(nn.Module):
    def __init__(self, din, hidden):
        super().__init__()
        self.front = nn.Linear(din, hidden)
        self.mid = nn.Linear(hidden, hidden)
        self.proj = nn.Linear(hidden, EMB)

    def __call__(self, x):
        h = nn.silu(self.front(x))
        h = nn.silu(self.mid(h))
        z = self.proj(h)
        return z / mx.sqrt((z * z).sum(axis=-1, keepdims=True) + 1e-6)


class TwinMic(nn.Module):
    def __init__(self):
        super().__init__()
        self.mic_a = Tower(DA, 64)
        self.mic_b = Tower(DB, 64)
        self.log_scale = mx.array(math.log(1 / 0.07))

    def __call__(self, a, b):
        return self.mic_a(a), self.mic_b(b), clamped_scale(self.log_scale)


model = TwinMic()
model.mic_a.front.freeze()  # mic A's analog front-end is fixed hardware
mx.eval(model.parameters())


def nce(m, a, b):
    za, zb, scale = m(a, b)
    logits = scale * (za @ zb.T)
    labels = mx.arange(a.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, labels, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, labels, reduction="mean"))


vg = nn.value_and_grad(model, nce)
_, g = vg(model, a_tr[:64], b_tr[:64])
flat = dict(tree_flatten(g))
assert "mic_a.front.weight" not in flat
dead = [k for k, v in flat.items() if float(mx.abs(v).max()) == 0.0]
assert not dead, dead
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_frozen = sum(v.size for _, v in tree_flatten(model.mic_a.front.parameters()))

opt = optim.Lion(learning_rate=optim.cosine_decay(3e-4, 30 * 46, end=2e-5), weight_decay=0.05)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(a, b):
    loss, grads = vg(model, a, b)
    opt.update(model, grads)
    return loss


def retrieval_at1(a, b):
    za, zb, _ = model(a, b)
    sim = za @ zb.T
    hit_ab = (mx.argmax(sim, axis=1) == mx.arange(a.shape[0])).astype(mx.float32).mean()
    hit_ba = (mx.argmax(sim, axis=0) == mx.arange(a.shape[0])).astype(mx.float32).mean()
    return 100.0 * float(hit_ab), 100.0 * float(hit_ba)


print(f"# twin-mic NCE: {n_train} trainable / {n_frozen} frozen params, "
      f"chance r@1 = {100.0 / N_TE:.2f}%", file=sys.stderr)
BS = 128
t0 = time.time()
for epoch in range(30):
    perm = mx.random.permutation(N_TR)
    tot, nb = 0.0, 0
    for i in range(0, N_TR - BS + 1, BS):
        idx = perm[i:i + BS]
        loss = train_step(a_tr[idx], b_tr[idx])
        mx.eval(state, loss)
        tot += float(loss)
        nb += 1
    if epoch % 3 == 0 or epoch == 29:
        r_ab, r_ba = retrieval_at1(a_te, b_te)
        rec = {"epoch": epoch, "nce_train": round(tot / nb, 4),
               "nce_chance": round(math.log(BS), 4),
               "r1_a2b_pct": round(r_ab, 2), "r1_b2a_pct": round(r_ba, 2),
               "logit_scale": round(float(clamped_scale(model.log_scale)), 3),
               "t": round(time.time() - t0, 2)}
        print(json.dumps(rec), flush=True)
