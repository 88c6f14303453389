"""Harbour ice-cream kiosk: how many scoops of each flavour a loyalty card buys in a season.

Poisson matrix factorisation  log rate = g + b_card + b_flavour + <u_card, v_flavour>.
Reported as the mean Poisson LOG-LIKELIHOOD per cell (negative; higher is better),
beside the flavour-popularity model and the true-rate ceiling. The run is cut at
step 500, written to disk, reloaded into a fresh model/optimizer and continued.
"""
import os
import shutil
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
N_CARDS, N_FLAV, DIM = 500, 60, 4
PRIOR = 3.0

u_true = rng.normal(0, 0.6, (N_CARDS, 3))
v_true = rng.normal(0, 0.6, (N_FLAV, 3))
log_rate = (-0.6 + rng.normal(0, 0.4, N_CARDS)[:, None]
            + rng.normal(0, 0.7, N_FLAV)[None, :] + u_true @ v_true.T)
rate = np.exp(log_rate)
counts = rng.poisson(rate).astype(np.float32)
held = rng.random(counts.shape) < 0.15
print(f"cards {N_CARDS}  flavours {N_FLAV}  scoops {int(counts.sum())}  "
      f"held cells {held.sum()}")


def loglik_np(lam, y, mask):
    from math import lgamma
    lg = np.vectorize(lgamma)(y + 1.0)
    ll = y * np.log(lam) - lam - lg
    return float(ll[mask].mean())


train = ~held
pop = (counts * train).sum(0) / train.sum(0)
card_act = (counts * train).sum(1) / train.sum(1)
pop_rate = np.outer(card_act, pop) / pop.mean()
print(f"held loglik: true-rate ceiling {loglik_np(rate, counts, held):.4f}  "
      f"popularity x activity {loglik_np(pop_rate, counts, held):.4f}  "
      f"flavour popularity {loglik_np(np.broadcast_to(pop, counts.shape), counts, held):.4f}")


class ScoopMF(nn.Module):
    def __init__(self):
        super().__init__()
        self.card = nn.Embedding(N_CARDS, DIM)
        self.flav = nn.Embedding(N_FLAV, DIM)
        self.card_b = nn.Embedding(N_CARDS, 1)
        self.flav_b = nn.Embedding(N_FLAV, 1)
        self.g = mx.zeros((1,))
        for e in (self.card, self.flav):
            e.weight = 0.05 * mx.random.normal(e.weight.shape)
        for e in (self.card_b, self.flav_b):
            e.weight = mx.zeros(e.weight.shape)

    def __call__(self, c):
        uc = self.card(c)
        eta = uc @ self.flav.weight.T
        return eta + self.card_b(c) + self.flav_b.weight.T + self.g


Y = mx.array(counts)
TR = mx.array(train.astype(np.float32))
HD = mx.array(held.astype(np.float32))
LG = mx.array(np.vectorize(__import__("math").lgamma)(counts + 1.0).astype(np.float32))


def nll(model, c):
    eta = model(c)
    y, m = Y[c], TR[c]
    cell = mx.exp(eta) - y * eta
    share = c.shape[0] / N_CARDS
    reg = PRIOR * ((model.card(c) ** 2).sum() + (model.card_b(c) ** 2).sum()
                   + share * ((model.flav.weight ** 2).sum() + (model.flav_b.weight ** 2).sum()))
    return ((cell * m).sum() + reg) / m.sum()


def held_loglik(model):
    eta = model(mx.arange(N_CARDS))
    ll = Y * eta - mx.exp(eta) - LG
    return float((ll * HD).sum() / HD.sum())


def train_loglik(model):
    eta = model(mx.arange(N_CARDS))
    ll = Y * eta - mx.exp(eta) - LG
    return float((ll * TR).sum() / TR.sum())


TOTAL, CUT, WARM = 1200, 500, 80
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 0.03, WARM), optim.cosine_decay(0.03, TOTAL - WARM, 0.002)],
    [WARM])


def run(model, opt, start, stop):
    step_fn = nn.value_and_grad(model, nll)
    for step in range(start, stop):
        c = mx.array(rng.choice(N_CARDS, 128, replace=False))
        loss, grads = step_fn(model, c)
        grads, gnorm = optim.clip_grad_norm(grads, 5.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if step % 150 == 0 or step == stop - 1:
            print(f"step {step:5d}  lr {float(opt.learning_rate):.4f}  nll-term {float(loss):.4f}  "
                  f"grad {float(gnorm):.3f}  loglik train {train_loglik(model):.4f}  "
                  f"held {held_loglik(model):.4f}")


t0 = time.time()
mx.random.seed(3)
model = ScoopMF()
opt = optim.Adam(learning_rate=schedule)
mx.eval(model.parameters())
print(f"untrained held loglik {held_loglik(model):.4f}")
run(model, opt, 0, CUT)

ck = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_kiosk_ckpt")
os.makedirs(ck, exist_ok=True)
model.save_weights(os.path.join(ck, "weights.safetensors"))
mx.save_safetensors(os.path.join(ck, "opt.safetensors"), dict(tree_flatten(opt.state)))
before = held_loglik(model)
print(f"checkpoint written at step {CUT}  held loglik {before:.4f}")

model2 = ScoopMF()
model2.load_weights(os.path.join(ck, "weights.safetensors"))
opt2 = optim.Adam(learning_rate=schedule)
opt2.init(model2.trainable_parameters())
opt2.state = tree_unflatten(list(mx.load(os.path.join(ck, "opt.safetensors")).items()))
mx.eval(model2.parameters(), opt2.state)
shutil.rmtree(ck)
print(f"resumed at optimizer step {int(opt2.step)}  held loglik {held_loglik(model2):.4f}")
run(model2, opt2, CUT, TOTAL)

final = held_loglik(model2)
print(f"final held loglik {final:.4f}  (ceiling {loglik_np(rate, counts, held):.4f}, "
      f"popularity x activity {loglik_np(pop_rate, counts, held):.4f})")
print(f"done in {time.time() - t0:.1f}s")
