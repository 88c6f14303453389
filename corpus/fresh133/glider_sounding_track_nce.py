"""Gliding club: learn to match the morning radiosonde wind sounding
(12 levels x u/v) with the thermal-drift track a sailplane's flight recorder
logged that day (10 legs x dx/dy), contrastively (InfoNCE, in-batch negatives).
The track side starts with a fixed random-feature layer that is frozen on purpose.
SGD+Nesterov with cosine warm restarts; compiled step; early stop with restore."""
import logging
import math
import sys
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)s soaring: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("soaring")

mx.random.seed(3)
LEVELS, LEGS, LATENT = 12, 10, 6


def simulate(n, key):
    k1, k2, k3, k4 = mx.random.split(key, 4)
    z = mx.random.normal((n, LATENT), key=k1)                 # hidden weather state
    A = mx.random.normal((LATENT, LEVELS * 2), key=mx.random.key(100)) / 2.0
    B = mx.random.normal((LATENT, LEGS * 2), key=mx.random.key(200)) / 2.0
    sounding = mx.tanh(z @ A) + 0.3 * mx.random.normal((n, LEVELS * 2), key=k2)
    track = z @ B + 0.4 * mx.sin(2.0 * z[:, :1]) + 0.35 * mx.random.normal((n, LEGS * 2), key=k3)
    return sounding, track


class Tower(nn.Module):
    def __init__(self, d_in, d_hidden=64, d_out=16):
        super().__init__()
        self.a = nn.Linear(d_in, d_hidden)
        self.b = nn.Linear(d_hidden, d_out)

    def __call__(self, x):
        return self.b(nn.gelu(self.a(x)))


class Matcher(nn.Module):
    def __init__(self):
        super().__init__()
        self.sound = Tower(LEVELS * 2)
        self.rff = nn.Linear(LEGS * 2, 48)          # frozen random features
        self.track = Tower(48 * 2)
        self.temp = 0.1                             # fixed softmax temperature

    def embed(self, s, t):
        es = self.sound(s)
        r = self.rff(t)
        et = self.track(mx.concatenate([mx.cos(r), mx.sin(r)], axis=-1))
        es = es / mx.linalg.norm(es, axis=-1, keepdims=True)
        et = et / mx.linalg.norm(et, axis=-1, keepdims=True)
        return es, et


def info_nce(model, s, t):
    es, et = model.embed(s, t)
    logits = (es @ et.T) / model.temp
    labels = mx.arange(s.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, labels, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, labels, reduction="mean"))


def top1(model, s, t):
    es, et = model.embed(s, t)
    return float(mx.mean(mx.argmax(es @ et.T, axis=1) == mx.arange(s.shape[0]))) * 100


model = Matcher()
model.rff.freeze()
mx.eval(model.parameters())

S_tr, T_tr = simulate(2048, mx.random.key(1))
S_va, T_va = simulate(256, mx.random.key(2))

lg = nn.value_and_grad(model, info_nce)
_, g = lg(model, S_tr[:128], T_tr[:128])
flat = tree_flatten(g)
log.info("trainable tensors=%d, with zero grad=%d, frozen rff in grads=%s",
         len(flat), sum(1 for _, v in flat if float(mx.abs(v).sum()) == 0.0),
         any(k.startswith("rff") for k, _ in flat))

opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True, weight_decay=1e-4)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(s, t):
    loss, grads = lg(model, s, t)
    opt.update(model, grads)
    return loss


BATCH, EPOCH_STEPS = 128, 16
cycle_lens = [6, 12, 24]           # epochs per warm-restart cycle
lr_max, lr_min = 0.1, 0.001
best, best_params, since_best, patience = -1.0, None, 0, 10
epoch = 0
stopped = False
for c, clen in enumerate(cycle_lens):
    for e in range(clen):
        lr = lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * e / clen))
        opt.learning_rate = lr
        perm = mx.random.permutation(S_tr.shape[0])
        run = 0.0
        for i in range(EPOCH_STEPS):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            loss = step(S_tr[idx], T_tr[idx])
            mx.eval(state, loss)
            run += float(loss)
        va_loss = float(info_nce(model, S_va[:BATCH], T_va[:BATCH]))
        acc = top1(model, S_va, T_va)
        log.info("cycle %d ep %02d/%02d lr %.4f | nce %.4f val_nce %.4f | val top1 %.1f%% (chance %.1f%%)",
                 c, e, clen, lr, run / EPOCH_STEPS, va_loss, acc, 100.0 / S_va.shape[0])
        epoch += 1
        if acc > best:
            best, since_best = acc, 0
            best_params = tree_map(lambda p: mx.array(p), model.trainable_parameters())
            mx.eval(best_params)
        else:
            since_best += 1
            if since_best >= patience:
                log.warning("no val top1 gain for %d epochs -> stopping at epoch %d", patience, epoch)
                stopped = True
                break
    if stopped:
        break

final_acc = top1(model, S_va, T_va)
model.update(best_params)
mx.eval(model.parameters())
log.info("restored best: val top1 %.1f%% (last epoch had %.1f%%), epochs run %d", top1(model, S_va, T_va), final_acc, epoch)
