# Fish-ladder camera tally: 4-way species call from 9 synthetic frame
# measurements.  The optimizer keeps Adam's moments as int8 codes with one
# float32 absmax scale per block of 64 entries (an "8-bit Adam"); a float32
# Adam twin on the same batches is the reference.  Season 1 uses the lower
# camera; season 2 adds the upper camera (different lighting), resumed from a
# checkpoint written at the end of season 1.
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten, tree_map

SPECIES = ["chinook", "coho", "steelhead", "sockeye"]
rng = np.random.default_rng(11)
CENTRES = rng.normal(0, 1.0, (4, 9))


def frames(n, light_shift=0.0, gain=1.0):
    y = rng.choice(4, n, p=[0.35, 0.30, 0.20, 0.15])
    X = CENTRES[y] + rng.normal(0, 1.05, (n, 9))
    X[:, 3:6] = X[:, 3:6] * gain + light_shift   # colour bands depend on the camera
    return X.astype(np.float32), y.astype(np.int32)


X1, y1 = frames(5000)
X1v, y1v = frames(1000)
X2, y2 = frames(3000, light_shift=2.5, gain=2.5)
X2v, y2v = frames(1000, light_shift=2.5, gain=2.5)
mu, sd = X1.mean(0), X1.std(0)
norm = lambda a: mx.array((a - mu) / sd)
X1, X1v, X2, X2v = map(norm, (X1, X1v, X2, X2v))
y1, y1v, y2, y2v = map(mx.array, (y1, y1v, y2, y2v))

BLOCK = 64


def q_signed(x):
    flat = x.reshape(-1)
    pad = (-flat.size) % BLOCK
    flat = mx.concatenate([flat, mx.zeros((pad,))]) if pad else flat
    b = flat.reshape(-1, BLOCK)
    s = mx.maximum(mx.max(mx.abs(b), axis=1, keepdims=True), 1e-30)
    return mx.round(b / s * 127).astype(mx.int8), s


def dq_signed(codes, s, shape):
    n = math.prod(shape)
    return (codes.astype(mx.float32) / 127 * s).reshape(-1)[:n].reshape(shape)


def q_second(v):
    # store sqrt(v) so the small second moments keep resolution
    return q_signed(mx.sqrt(v))


def dq_second(codes, s, shape):
    r = dq_signed(codes, s, shape)
    return r * r


class Adam8:
    def __init__(self, lr, b1=0.9, b2=0.999, eps=1e-8):
        self.lr, self.b1, self.b2, self.eps = lr, b1, b2, eps
        self.t = 0   # bias-correction counter (carried across seasons)
        self.k = 0   # schedule position (restarts each season)
        self.state = None

    def init(self, params):
        def mk(p):
            mc, ms = q_signed(mx.zeros_like(p))
            vc, vs = q_second(mx.zeros_like(p))
            return {"mc": mc, "ms": ms, "vc": vc, "vs": vs}
        self.state = tree_map(mk, params)

    def update(self, model, grads):
        self.t += 1
        lr = self.lr(self.k)
        self.k += 1
        c1 = 1 - self.b1 ** self.t
        c2 = 1 - self.b2 ** self.t
        params = model.trainable_parameters()
        fp, fg, fs = dict(tree_flatten(params)), dict(tree_flatten(grads)), {}
        st = dict(tree_flatten(self.state))
        new_p = {}
        for k, p in fp.items():
            g = fg[k]
            m = dq_signed(st[k + ".mc"], st[k + ".ms"], p.shape)
            v = dq_second(st[k + ".vc"], st[k + ".vs"], p.shape)
            m = self.b1 * m + (1 - self.b1) * g
            v = self.b2 * v + (1 - self.b2) * g * g
            new_p[k] = p - lr * (m / c1) / (mx.sqrt(v / c2) + self.eps)
            mc, ms = q_signed(m)
            vc, vs = q_second(v)
            fs.update({k + ".mc": mc, k + ".ms": ms, k + ".vc": vc, k + ".vs": vs})
        model.update(tree_unflatten(list(new_p.items())))
        self.state = tree_unflatten(list(fs.items()))

    def nbytes(self):
        return sum(v.nbytes for _, v in tree_flatten(self.state))


def make_net():
    return nn.Sequential(nn.Linear(9, 128), nn.GELU(), nn.Linear(128, 128), nn.GELU(), nn.Linear(128, 4))


mx.random.seed(5)
net8 = make_net()
ref = make_net()
ref.update(net8.parameters())
mx.eval(net8.parameters(), ref.parameters())

BS = 100
S1_STEPS, S2_STEPS = 400, 300


def sched(total, peak):
    return optim.join_schedules(
        [optim.linear_schedule(0.0, peak, 80), optim.cosine_decay(peak, total - 80, peak * 0.05)], [80]
    )


def ce(model, x, y):
    return mx.mean(nn.losses.cross_entropy(model(x), y))


g8 = nn.value_and_grad(net8, ce)
gref = nn.value_and_grad(ref, ce)


def acc(model, X, y):
    return mx.mean(mx.argmax(model(X), axis=1) == y).item()


def majority(y):
    return np.bincount(np.array(y)).max() / y.size


def run_season(name, X, y, Xv, yv, steps, opt8, optr, log_every):
    n = X.shape[0]
    t = 0
    while t < steps:
        perm = mx.array(rng.permutation(n))
        for b in range(n // BS):
            if t == steps:
                break
            idx = perm[b * BS:(b + 1) * BS]
            l8, gr8 = g8(net8, X[idx], y[idx])
            opt8.update(net8, gr8)
            lr_, grr = gref(ref, X[idx], y[idx])
            optr.update(ref, grr)
            mx.eval(net8.parameters(), opt8.state, ref.parameters(), optr.state)
            t += 1
            if t % log_every == 0 or t == 1:
                print(f"{name} step {t:4d}  loss adam8 {l8.item():.4f} f32 {lr_.item():.4f}  "
                      f"val acc adam8 {acc(net8, Xv, yv):.3f} f32 {acc(ref, Xv, yv):.3f}")


print(f"lower camera: {X1.shape[0]} frames, majority-class acc {majority(y1v):.3f}")
print(f"upper camera: {X2.shape[0]} frames, majority-class acc {majority(y2v):.3f}")
t0 = time.time()
opt8 = Adam8(sched(S1_STEPS, 1e-3))
opt8.init(net8.trainable_parameters())
optr = optim.Adam(learning_rate=sched(S1_STEPS, 1e-3))
f32_state_bytes = sum(p.nbytes for _, p in tree_flatten(net8.parameters())) * 2
print(f"moment storage: int8+scales {opt8.nbytes()} bytes vs float32 {f32_state_bytes} bytes")
run_season("season1", X1, y1, X1v, y1v, S1_STEPS, opt8, optr, 80)
print(f"season1 end: lower-camera acc adam8 {acc(net8, X1v, y1v):.3f} f32 {acc(ref, X1v, y1v):.3f}; "
      f"upper-camera acc adam8 {acc(net8, X2v, y2v):.3f} (not trained on it yet)")

ckdir = tempfile.mkdtemp("", "ladder_")
net8.save_weights(os.path.join(ckdir, "net8.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "adam8.safetensors"), dict(tree_flatten(opt8.state)))
ref.save_weights(os.path.join(ckdir, "ref.safetensors"))
print(f"checkpoint written to {ckdir}")

# resume into fresh objects
before = acc(net8, X1v, y1v)
net8 = make_net()
net8.load_weights(os.path.join(ckdir, "net8.safetensors"))
ref = make_net()
ref.load_weights(os.path.join(ckdir, "ref.safetensors"))
g8 = nn.value_and_grad(net8, ce)
gref = nn.value_and_grad(ref, ce)
saved_state = tree_unflatten(list(mx.load(os.path.join(ckdir, "adam8.safetensors")).items()))
print(f"resumed: lower-camera acc {acc(net8, X1v, y1v):.3f} (before save {before:.3f})")

# season 2: mix of both cameras, fresh warm-up, moments carried over
Xmix = mx.concatenate([X2, X1[:1500]])
ymix = mx.concatenate([y2, y1[:1500]])
opt8 = Adam8(sched(S2_STEPS, 5e-4))
opt8.state = saved_state
opt8.t = S1_STEPS
optr = optim.Adam(learning_rate=sched(S2_STEPS, 5e-4))
run_season("season2", Xmix, ymix, X2v, y2v, S2_STEPS, opt8, optr, 60)
print(f"final upper-camera acc adam8 {acc(net8, X2v, y2v):.3f} f32 {acc(ref, X2v, y2v):.3f} "
      f"(majority {majority(y2v):.3f}); lower-camera acc adam8 {acc(net8, X1v, y1v):.3f}")
print(f"done in {time.time() - t0:.1f}s")
