import os
import tempfile
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(3)
V, CTX = 12, 3
# second-order Markov source: next symbol depends on the two previous ones
logits = rng.normal(scale=2.2, size=(V, V, V))
P = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
H_src = float(-(P * np.log(P)).sum(-1).mean())


def sample(n):
    s = list(rng.integers(0, V, size=2))
    for _ in range(n):
        s.append(int(rng.choice(V, p=P[s[-2], s[-1]])))
    return np.array(s, np.int32)


def windows(seq):
    idx = np.arange(len(seq) - CTX)
    X = np.stack([seq[idx + k] for k in range(CTX)], 1)
    return X, seq[idx + CTX]


Xtr, ytr = windows(sample(24000))
Xva, yva = windows(sample(4000))
unigram = np.bincount(ytr, minlength=V) / len(ytr)
H_uni = float(-(unigram * np.log(unigram)).sum())


class CharMlp(nn.Module):
    def __init__(self, width, emb=8):
        super().__init__()
        self.emb = nn.Embedding(V, emb)
        self.l1 = nn.Linear(CTX * emb, width)
        self.l2 = nn.Linear(width, V)
    def __call__(self, x):
        e = self.emb(x).reshape(x.shape[0], -1)
        return self.l2(nn.relu(self.l1(e)))


def nparams(model):
    return sum(v.size for _, v in tree_flatten(model.parameters()))


def valid_ce(model):
    return nn.losses.cross_entropy(model(mx.array(Xva)), mx.array(yva), reduction="mean").item()


def loss_fn(m, a, b):
    return nn.losses.cross_entropy(m(a), b, reduction="mean")


def run_steps(model, opt, start, stop, seed, bs=128, report=None):
    step = nn.value_and_grad(model, loss_fn)
    r = np.random.default_rng(seed + start)
    acc, n = 0.0, 0
    for s in range(start, stop):
        idx = r.integers(0, len(Xtr), size=bs)
        loss, g = step(model, mx.array(Xtr[idx]), mx.array(ytr[idx]))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        acc += loss.item(); n += 1
        if report and (s + 1) % report == 0:
            print(f"{s + 1:6d} {opt.learning_rate.item():10.6f} {acc / n:9.4f} {valid_ce(model):9.4f}")
            acc, n = 0.0, 0


t0 = time.time()
print(f"# shanty-verse symbol model: width ladder, {V} symbols, context {CTX}")
print(f"# train windows {len(Xtr)}  valid windows {len(Xva)}")
print(f"# source entropy (floor) {H_src:.4f} nats   unigram entropy {H_uni:.4f} nats   uniform {np.log(V):.4f} nats")
print()
print("# block 0: ladder, 600 steps each, Adam 3e-3 constant")
print("# width   params   first_ce   valid_ce   excess_over_floor   secs")
WIDTHS = [2, 4, 8, 16, 32, 64, 128]
ladder = []
for w in WIDTHS:
    ts = time.time()
    mx.random.seed(w)
    m = CharMlp(w)
    opt = optim.Adam(learning_rate=3e-3)
    first = valid_ce(m)
    run_steps(m, opt, 0, 600, seed=w)
    v = valid_ce(m)
    ladder.append((w, nparams(m), v))
    print(f"{w:7d} {nparams(m):8d} {first:10.4f} {v:10.4f} {v - H_src:19.4f} {time.time() - ts:6.2f}")

# power law in the excess loss: log(excess) = a + b log(params)
pp = np.array([p for _, p, _ in ladder], float)
ex = np.array([max(v - H_src, 1e-4) for _, _, v in ladder])
b, a = np.polyfit(np.log(pp), np.log(ex), 1)
print()
print("# block 1: fitted excess = exp(a) * params^b")
print(f"# a {a:.3f}  b {b:.3f}")
for w, p, v in ladder:
    print(f"{w:7d} {p:8d} {v - H_src:10.4f} {np.exp(a) * p ** b:10.4f}")
best_w = min(ladder, key=lambda r: r[2])[0]
print()
print(f"# chosen width {best_w}; long run of 3000 steps with warm-up from 0 and cosine decay,")
print("# split in two sittings with a checkpoint written after step 1500")
print("# block 2: step   lr   train_ce_window   valid_ce")
TOTAL, HALF, WARM = 3000, 1500, 150
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, WARM),
                              optim.cosine_decay(3e-3, TOTAL - WARM, 3e-5)], [WARM])
mx.random.seed(777)
m = CharMlp(best_w)
opt = optim.Adam(learning_rate=sched)
print(f"{0:6d} {float(sched(0)):10.6f} {'-':>9s} {valid_ce(m):9.4f}")
run_steps(m, opt, 0, HALF, seed=42, report=250)
ckpt = tempfile.mkdtemp()
m.save_weights(os.path.join(ckpt, "model.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
before = valid_ce(m)
del m, opt

m2 = CharMlp(best_w)
m2.load_weights(os.path.join(ckpt, "model.safetensors"))
opt2 = optim.Adam(learning_rate=sched)
opt2.init(m2.trainable_parameters())
opt2.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
after = valid_ce(m2)
print(f"# resumed from {ckpt}: valid_ce before {before:.4f} after {after:.4f}, optimizer step {opt2.step.item()}")
run_steps(m2, opt2, HALF, TOTAL, seed=42, report=250)
final = valid_ce(m2)
print()
print("# block 3: summary")
print(f"# final valid_ce {final:.4f}  floor {H_src:.4f}  unigram {H_uni:.4f}  uniform {np.log(V):.4f}")
print(f"# ladder value at width {best_w}: {min(r[2] for r in ladder):.4f}")
print(f"# elapsed {time.time() - t0:.1f}s")
