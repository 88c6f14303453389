# Galley recipe assistant: instruction tuning of a window-MLP token model in two stages
# (house template, then the partner kitchen's template), SGD+momentum with warm restarts,
# 4-microbatch gradient accumulation, progress reported as reply log-likelihood (nats/token).
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

PAD, EOS = 0, 1
INS_A, RESP_A, INS_B, RESP_B = 2, 3, 4, 5
DISH0, SERV0, ING0 = 6, 18, 22
N_DISH, N_SERV, N_ING = 12, 4, 30
VOCAB = ING0 + N_ING
CTX = 4
tabs = np.random.default_rng(11)
FIRST = tabs.integers(0, N_ING, size=N_DISH)
SECOND = tabs.integers(0, N_ING, size=(N_DISH, N_SERV))

def make(n, r, template):
    ins, resp = (INS_A, RESP_A) if template == "A" else (INS_B, RESP_B)
    d = r.integers(0, N_DISH, size=n); s = r.integers(0, N_SERV, size=n)
    seq = np.stack([np.full(n, ins), DISH0 + d, SERV0 + s, np.full(n, resp),
                    ING0 + FIRST[d], ING0 + SECOND[d, s], np.full(n, EOS)], 1)
    padded = np.concatenate([np.zeros((n, CTX), np.int64), seq], 1)
    # windows predicting positions 4,5,6 of seq (the reply)
    xs = np.stack([padded[:, p: p + CTX] for p in range(4, 7)], 1)   # n,3,CTX
    ys = seq[:, 4:7]
    return xs.astype(np.int32), ys.astype(np.int32)

class WindowLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 24)
        self.l1 = nn.Linear(24 * CTX, 128)
        self.l2 = nn.Linear(128, VOCAB)
    def __call__(self, x):
        e = self.emb(x).reshape(*x.shape[:-1], -1)
        return self.l2(nn.gelu(self.l1(e)))

def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

def sgdr(step, period=150, hi=0.2, lo=0.01):
    t = step % period
    return lo + 0.5 * (hi - lo) * (1 + math.cos(math.pi * t / period))

r = np.random.default_rng(3)
mx.random.seed(1)
model = WindowLM()
opt = optim.SGD(learning_rate=0.2, momentum=0.9)
grad_fn = nn.value_and_grad(model, loss_fn)
ACC, MB = 4, 32
maj = math.log(1.0 / N_ING)
print(f"reply log-lik of a uniform guess over ingredients: {maj:.3f} nats/token")

def evaluate(template):
    x, y = make(400, np.random.default_rng(77), template)
    logits = model(mx.array(x))
    ll = -nn.losses.cross_entropy(logits, mx.array(y), reduction="mean").item()
    exact = mx.all(mx.argmax(logits, -1) == mx.array(y), axis=-1).mean().item()
    return ll, exact

t0 = time.time()
step = 0
for stage, template, steps in (("house", "A", 450), ("partner", "B", 300)):
    ll, ex = evaluate(template)
    print(f"== stage {stage} (template {template}) starts: held-out loglik {ll:.3f} exact {ex:.3f}")
    for k in range(steps):
        opt.learning_rate = sgdr(k)
        acc = None; tot = 0.0
        for _ in range(ACC):
            x, y = make(MB, r, template)
            l, g = grad_fn(model, mx.array(x), mx.array(y))
            acc = g if acc is None else tree_map(lambda a, b: a + b, acc, g)
            tot = tot + l
        acc = tree_map(lambda a: a / ACC, acc)
        opt.update(model, acc)
        mx.eval(model.parameters(), opt.state, tot)
        step += 1
        if k % 75 == 0 or k == steps - 1:
            print(f"  [{stage}] it {k:3d} lr {sgdr(k):.3f} train loglik {-(tot / ACC).item():.4f}")
    ll, ex = evaluate(template)
    print(f"== stage {stage} done: held-out loglik {ll:.4f} exact {ex:.3f}")
llA, exA = evaluate("A")
print(f"house template after partner stage: loglik {llA:.4f} exact {exA:.3f}")
print(f"total optimizer steps {step}, {time.time()-t0:.1f}s")
