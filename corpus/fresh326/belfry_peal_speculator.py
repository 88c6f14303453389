import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(3)
rng = np.random.default_rng(3)
V, T = 10, 24


def peal(n):
    out = np.zeros((n, T), dtype=np.int32)
    for i in range(n):
        a, b = rng.integers(0, V, size=2)
        step = rng.integers(1, 4)
        for t in range(T):
            nxt = (a + b + step) % V
            if rng.random() < 0.08:
                nxt = rng.integers(0, V)
            out[i, t] = a
            a, b = b, nxt
    return mx.array(out)


class ConvTarget(nn.Module):
    def __init__(self, d=32):
        super().__init__()
        self.emb = nn.Embedding(V, d)
        self.c1 = nn.Conv1d(d, d, 3)
        self.c2 = nn.Conv1d(d, d, 3)
        self.out = nn.Linear(d, V)

    def features(self, x):
        h = self.emb(x)
        h = nn.gelu(self.c1(mx.pad(h, [(0, 0), (2, 0), (0, 0)])))
        h = h + nn.gelu(self.c2(mx.pad(h, [(0, 0), (2, 0), (0, 0)])))
        return h

    def __call__(self, x):
        return self.out(self.features(x))


class ChainSpeculator(nn.Module):
    def __init__(self, d=32, k=3):
        super().__init__()
        self.k = k
        self.tok = [nn.Embedding(V, d) for _ in range(k)]
        self.mix = [nn.Linear(d, d, bias=False) for _ in range(k)]
        self.ln = [nn.LayerNorm(d) for _ in range(k)]
        self.head = [nn.Linear(d, V) for _ in range(k)]

    def __call__(self, feat, toks):
        s, outs = feat, []
        for j in range(self.k):
            s = nn.gelu(self.ln[j](self.mix[j](s) + self.tok[j](toks[j])))
            outs.append(self.head[j](s))
        return outs


target = ConvTarget()
seqs = peal(1536)
hold = peal(256)


def tloss(m, x):
    lg = m(x[:, :-1])
    return nn.losses.cross_entropy(lg, x[:, 1:], reduction="mean")


topt = optim.Adam(learning_rate=3e-3)
tstep = nn.value_and_grad(target, tloss)
print("target fit (conv LM)")
for it in range(1, 301):
    idx = mx.array(rng.integers(0, seqs.shape[0], 64))
    l, g = tstep(target, seqs[idx])
    topt.update(target, g)
    mx.eval(target.parameters(), topt.state)
    if it % 100 == 0:
        print(f"  target it {it:4d}  ce {l.item():.4f}")
target.freeze()
frozen = mx.concatenate([v.reshape(-1) for _, v in tree_flatten(target.parameters())])

K = 3
spec = ChainSpeculator(k=K)


def pack(x):
    feat = target.features(x)
    greedy = mx.argmax(target(x), axis=-1)
    L = T - K - 1
    f = mx.stop_gradient(feat[:, :L])
    toks = [x[:, 1 + j:1 + j + L] for j in range(K)]
    labels = [x[:, 1:1 + L]] + [mx.stop_gradient(greedy[:, 1 + j:1 + j + L]) for j in range(K - 1)]
    return f, toks, labels


def sloss(m, f, toks, labels):
    outs = m(f, toks)
    w = [1.0, 0.7, 0.5]
    parts = [nn.losses.cross_entropy(o, y, label_smoothing=0.05, reduction="mean") for o, y in zip(outs, labels)]
    return sum(wi * p for wi, p in zip(w, parts)), parts


def accept_len(m, x):
    f, toks, _ = pack(x)
    greedy = mx.argmax(target(x), axis=-1)
    L = f.shape[1]
    outs = m(f, toks)
    ok = mx.ones((x.shape[0], L), dtype=mx.bool_)
    total = mx.zeros((x.shape[0], L))
    for j, o in enumerate(outs):
        ok = ok & (mx.argmax(o, axis=-1) == greedy[:, j:j + L])
        total = total + ok
    return total.mean().item()


def unigram_accept(x):
    greedy = mx.argmax(target(x), axis=-1)
    top = int(mx.argmax(mx.sum(mx.eye(V)[greedy.reshape(-1)], axis=0)).item())
    L = T - K - 1
    ok = mx.ones((x.shape[0], L), dtype=mx.bool_)
    total = mx.zeros((x.shape[0], L))
    for j in range(K):
        ok = ok & (greedy[:, j:j + L] == top)
        total = total + ok
    return total.mean().item()


steps = 600
warm = optim.linear_schedule(0.0, 2e-3, 60)
decay = optim.cosine_decay(2e-3, steps - 60, 1e-4)
sched = optim.join_schedules([warm, decay], [60])
opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
vg = nn.value_and_grad(spec, lambda m, f, t, y: sloss(m, f, t, y)[0])
ckdir = tempfile.mkdtemp()
base = unigram_accept(hold)
print(f"baseline unigram drafter: mean accepted tokens {base:.3f} of {K}")
print(f"speculator lr at step 0: {sched(mx.array(0)).item():.6f}")

start = 1
t0 = time.time()
while start <= steps:
    for it in range(start, steps + 1):
        idx = mx.array(rng.integers(0, seqs.shape[0], 64))
        f, toks, labels = pack(seqs[idx])
        l, g = vg(spec, f, toks, labels)
        opt.update(spec, g)
        mx.eval(spec.parameters(), opt.state)
        if it % 150 == 0:
            _, parts = sloss(spec, *pack(hold))
            acc = accept_len(spec, hold)
            print(f"step {it:4d}  lr {opt.learning_rate.item():.5f}  loss {l.item():.4f}  "
                  f"held ce " + " ".join(f"{p.item():.3f}" for p in parts) +
                  f"  accepted {acc:.3f} (unigram {base:.3f})")
        if it == 300 and start == 1:
            spec.save_weights(os.path.join(ckdir, "spec.safetensors"))
            mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
            print(f"checkpoint at step {it}; simulating restart")
            spec = ChainSpeculator(k=K)
            spec.load_weights(os.path.join(ckdir, "spec.safetensors"))
            opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
            opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
            vg = nn.value_and_grad(spec, lambda m, f, t, y: sloss(m, f, t, y)[0])
            start = it + 1
            break
    else:
        start = steps + 1

drift = mx.abs(mx.concatenate([v.reshape(-1) for _, v in tree_flatten(target.parameters())]) - frozen).max().item()
final = accept_len(spec, hold)
print(f"target drift {drift:.1e}")
print(f"final mean accepted tokens {final:.3f} vs unigram {base:.3f}  ({time.time()-t0:.1f}s)")
