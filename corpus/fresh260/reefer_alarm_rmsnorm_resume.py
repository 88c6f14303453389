"""Refrigerated-container alarm log: next-event model over a stream of controller
event codes (defrost start/end, door open/close, setpoint drift, compressor trips ...).

Tiny pre-norm transformer (RMSNorm), AdamW. The run stops half way, writes a
checkpoint (weights + optimizer state), and a fresh process-like restart reloads it
and finishes. The event stream is a stochastic Markov chain, so the loss cannot go
below the chain's entropy rate; that floor is printed beside the loss.
"""
import os
import tempfile
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

V, T, D = 12, 24, 48
rng = np.random.default_rng(11)

# sparse-ish random transition matrix: each code has 3 likely successors
P = np.full((V, V), 0.02)
for a in range(V):
    nxt = rng.choice(V, 3, replace=False)
    P[a, nxt] += rng.dirichlet([2.0, 2.0, 2.0]) * 0.8
P /= P.sum(1, keepdims=True)
# stationary distribution -> entropy rate in nats
w, vec = np.linalg.eig(P.T)
pi = np.real(vec[:, np.argmax(np.real(w))])
pi /= pi.sum()
FLOOR = float(-(pi[:, None] * P * np.log(P)).sum())
UNIGRAM = float(-(pi * np.log(pi)).sum())


def stream(n):
    s = np.empty(n, np.int32)
    s[0] = rng.integers(V)
    u = rng.random(n)
    c = np.cumsum(P, 1)
    for i in range(1, n):
        s[i] = min(int(np.searchsorted(c[s[i - 1]], u[i])), V - 1)
    return s


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1 = nn.RMSNorm(D)
        self.att = nn.MultiHeadAttention(D, 4)
        self.n2 = nn.RMSNorm(D)
        self.ff = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))

    def __call__(self, x, mask):
        h = self.n1(x)
        x = x + self.att(h, h, h, mask)
        return x + self.ff(self.n2(x))


class AlarmLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.pos = nn.Embedding(T, D)
        self.blocks = [Block(), Block()]
        self.norm = nn.RMSNorm(D)
        self.out = nn.Linear(D, V)

    def __call__(self, x):
        L = x.shape[1]
        h = self.emb(x) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        for b in self.blocks:
            h = b(h, mask)
        return self.out(self.norm(h))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def batches(s, bs):
    while True:
        st = rng.integers(0, len(s) - T - 1, bs)
        x = np.stack([s[i:i + T] for i in st])
        y = np.stack([s[i + 1:i + T + 1] for i in st])
        yield mx.array(x), mx.array(y)


def make_opt(total):
    sched = optim.cosine_decay(3e-3, total, 1e-4)
    return optim.AdamW(learning_rate=sched, weight_decay=0.01)


def run(model, opt, it, start, stop, val):
    step_fn = nn.value_and_grad(model, loss_fn)
    for step in range(start, stop):
        x, y = next(it)
        loss, g = step_fn(model, x, y)
        g, gn = optim.clip_grad_norm(g, 1.0)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 20 == 0 or step == stop - 1:
            vl = loss_fn(model, *val).item()
            print(f"step {step:4d}  train {loss.item():.4f}  val {vl:.4f}  floor {FLOOR:.4f}  "
                  f"gap {vl - FLOOR:+.4f}  |g| {gn.item():.2f}")


def main():
    t0 = time.time()
    mx.random.seed(5)
    train_s, val_s = stream(60000), stream(8000)
    it = batches(train_s, 24)
    vs = np.random.default_rng(1).integers(0, len(val_s) - T - 1, 128)
    val = (mx.array(np.stack([val_s[i:i + T] for i in vs])),
           mx.array(np.stack([val_s[i + 1:i + T + 1] for i in vs])))
    print(f"codes {V}  entropy-rate floor {FLOOR:.4f} nats  unigram baseline {UNIGRAM:.4f} nats  "
          f"uniform {np.log(V):.4f}")
    total, half = 200, 100

    model, opt = AlarmLM(), make_opt(total)
    mx.eval(model.parameters())
    print(f"params {sum(v.size for _, v in tree_flatten(model.parameters()))}")
    run(model, opt, it, 0, half, val)

    ckdir = os.path.join(tempfile.gettempdir(), f"reefer_ck_{os.getpid()}")
    os.makedirs(ckdir, exist_ok=True)
    wpath, opath = os.path.join(ckdir, "w.safetensors"), os.path.join(ckdir, "opt.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    ref = loss_fn(model, *val).item()
    print(f"checkpoint written at step {half}  val {ref:.4f}")
    del model, opt

    model, opt = AlarmLM(), make_opt(total)
    model.load_weights(wpath)
    opt.state = tree_unflatten(list(mx.load(opath).items()))
    mx.eval(model.parameters(), opt.state)
    print(f"resumed: optimizer step {opt.step.item()}  val {loss_fn(model, *val).item():.4f} (was {ref:.4f})")
    run(model, opt, it, half, total, val)

    final = loss_fn(model, *val).item()
    print(f"final val {final:.4f}  floor {FLOOR:.4f}  unigram {UNIGRAM:.4f}  "
          f"excess over floor {final - FLOOR:.4f} nats")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
