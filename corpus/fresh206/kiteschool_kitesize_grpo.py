"""Kitesurf school: the instructor's assistant picks a kite size (7,9,11,13,15 m2)
for each lesson from wind / rider / water readings.  Trained with GRPO:
8 sampled picks per lesson, group-normalised noisy rewards, clipped ratio,
k3 KL to the starting policy.  The sensor encoder is a frozen random-feature
block on purpose (shipped with the app); only the decision head trains.
"""
import sys
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)
SIZES = [7, 9, 11, 13, 15]
N_IN, G, LESSONS = 6, 8, 32


def ideal_size(x):
    # wind knots (x0), rider kg (x1), gust factor (x2), chop (x3), skill (x4), board litres (x5)
    s = 11.0 - 2.6 * x[:, 0] + 1.6 * x[:, 1] - 0.8 * x[:, 2] + 0.4 * x[:, 4] * x[:, 5]
    return mx.clip(s, 6.0, 16.0)


def reward(x, a):
    size = mx.array(SIZES, dtype=mx.float32)[a]
    err = (size - ideal_size(x)) / 2.0
    noise = 0.35 * mx.random.normal(err.shape)
    return 1.0 - err * err + noise  # noisy instructor rating after the lesson


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(N_IN, 64)

    def __call__(self, x):
        return mx.concatenate([mx.tanh(self.proj(x)), x], axis=1)


class KitePolicy(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = Encoder()
        self.hidden = nn.Linear(64 + N_IN, 64)
        self.out = nn.Linear(64, len(SIZES))

    def __call__(self, x):
        return self.out(nn.gelu(self.hidden(self.enc(x))))


policy = KitePolicy()
policy.enc.freeze()  # frozen sensor block, intentionally
ref = KitePolicy()
ref.update(policy.parameters())
ref.freeze()
mx.eval(policy.parameters(), ref.parameters())
frozen_before = mx.array(policy.enc.proj.weight)

n_train = sum(v.size for _, v in tree_flatten(policy.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(policy.parameters()))
print(f"trainable {n_train}/{n_all} params (encoder frozen)")

opt = optim.Adam(learning_rate=3e-3)
EPS, BETA = 0.2, 0.02


def logp_of(logits, a):
    lp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    return mx.take_along_axis(lp, a[..., None], axis=-1)[..., 0]


def grpo_loss(model, x, a, adv, old_lp, ref_lp):
    lp = logp_of(model(x), a)
    ratio = mx.exp(lp - old_lp)
    surr = mx.minimum(ratio * adv, mx.clip(ratio, 1 - EPS, 1 + EPS) * adv)
    d = ref_lp - lp
    kl = mx.exp(d) - d - 1.0
    return mx.mean(-surr + BETA * kl), mx.mean(kl)


state = [policy.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, a, adv, old_lp, ref_lp):
    (loss, kl), g = nn.value_and_grad(policy, grpo_loss)(policy, x, a, adv, old_lp, ref_lp)
    opt.update(policy, g)
    return loss, kl


X_eval = mx.random.normal((2000, N_IN))
ideal_eval = ideal_size(X_eval)
oracle_a = mx.argmin(mx.abs(mx.array(SIZES, dtype=mx.float32)[None, :] - ideal_eval[:, None]), axis=1)


def greedy_score(model):
    a = mx.argmax(model(X_eval), axis=1)
    size = mx.array(SIZES, dtype=mx.float32)[a]
    e = (size - ideal_eval) / 2.0
    return mx.mean(1.0 - e * e).item(), mx.mean(a == oracle_a).item() * 100


def fixed_score(a):
    size = mx.array(SIZES, dtype=mx.float32)[a]
    e = (size - ideal_eval) / 2.0
    return mx.mean(1.0 - e * e).item()


ITERS = 300
t0 = time.time()
hist = []
for it in range(1, ITERS + 1):
    x = mx.random.normal((LESSONS, N_IN))
    xg = mx.repeat(x, G, axis=0)                     # (LESSONS*G, N_IN)
    logits = policy(xg)
    a = mx.random.categorical(logits)
    r = reward(xg, a).reshape(LESSONS, G)
    adv = (r - r.mean(axis=1, keepdims=True)) / (r.std(axis=1, keepdims=True) + 1e-4)
    adv = adv.reshape(-1)
    old_lp = mx.stop_gradient(logp_of(logits, a))
    ref_lp = logp_of(ref(xg), a)
    for _ in range(2):  # two clipped passes over the same rollouts
        loss, kl = train_step(xg, a, adv, old_lp, ref_lp)
        mx.eval(policy.state, opt.state, loss, kl)
    hist.append((r.mean().item(), kl.item()))
    if it % 25 == 0:
        el = time.time() - t0
        rm = sum(h[0] for h in hist[-25:]) / 25
        bar = "#" * (it * 30 // ITERS)
        sys.stdout.write(f"grpo {it*100//ITERS:3d}%|{bar:<30}| {it}/{ITERS} "
                         f"[{el:.1f}s, {it/el:.1f}it/s, mean_rating={rm:+.3f}, kl={kl.item():.4f}, "
                         f"loss={loss.item():+.4f}]\n")
        sys.stdout.flush()

score, agree = greedy_score(policy)
ref_score, ref_agree = greedy_score(ref)
always11 = fixed_score(mx.full((2000,), 2, dtype=mx.int32))
oracle = fixed_score(oracle_a)
drift = mx.abs(policy.enc.proj.weight - frozen_before).max().item()
print("\n kite-size choice, held-out lessons (rating 1 - ((size-ideal)/2)^2, no noise)")
print(" policy              | rating  | agrees with oracle")
print(f" start (reference)   | {ref_score:+.3f}  | {ref_agree:5.1f}%")
print(f" always 11 m2        | {always11:+.3f}  |   -")
print(f" GRPO trained        | {score:+.3f}  | {agree:5.1f}%")
print(f" oracle              | {oracle:+.3f}  | 100.0%")
print(f" frozen encoder max |dW| = {drift:.1e}")
