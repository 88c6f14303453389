# Train a tiny next-token model on a synthetic Markov "language", then decode
# with a top-k / top-p sampler chain and score how many decoded transitions are legal.
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

V, SUCC, CTX = 24, 6, 1
rs = np.random.RandomState(3)
mx.random.seed(0)
succ = np.stack([rs.choice(np.arange(1, V), SUCC, replace=False) for _ in range(V)])
w = np.array([0.19, 0.18, 0.17, 0.16, 0.15, 0.15])
P = np.zeros((V, V)); 
for s in range(V):
    P[s, succ[s]] = w
true_H = -(w * np.log(w)).sum()

def corpus(n):
    x = [int(rs.randint(1, V))]
    for _ in range(n - 1):
        x.append(int(rs.choice(succ[x[-1]], p=w)))
    return np.array(x, dtype=np.int32)

train = corpus(20000)

class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 32)
        self.l1 = nn.Linear(32, 64)
        self.out = nn.Linear(64, V)
    def __call__(self, t):
        return self.out(nn.gelu(self.l1(self.emb(t))))

model = TinyLM()
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)

def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")

step_fn = nn.value_and_grad(model, loss_fn)

B = 256
for it in range(1, 401):
    idx = rs.randint(0, len(train) - 1, B)
    x, y = mx.array(train[idx]), mx.array(train[idx + 1])
    loss, g = step_fn(model, x, y)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 50 == 0:
        print(f"it {it:4d} | xent {loss.item():.4f} nats | floor {true_H:.4f}")

# ---- sampler chain (mlx-lm style) ----
def apply_top_k(logprobs, top_k):
    mask_idx = mx.argpartition(-logprobs, kth=top_k - 1, axis=-1)[..., top_k:]
    return mx.put_along_axis(logprobs, mask_idx, mx.array(-float("inf"), logprobs.dtype), axis=-1)

def apply_top_p(logprobs, top_p):
    probs = mx.exp(logprobs)
    sorted_indices = mx.argsort(logprobs, axis=-1)
    sorted_probs = mx.take_along_axis(probs, sorted_indices, axis=-1)
    cumulative_probs = mx.cumsum(sorted_probs, axis=-1)
    inverse_indices = mx.put_along_axis(
        mx.zeros_like(sorted_indices), sorted_indices,
        mx.arange(sorted_indices.shape[-1], dtype=sorted_indices.dtype), axis=-1)
    cumulative_probs = mx.take_along_axis(cumulative_probs, inverse_indices, axis=-1)
    return mx.where(cumulative_probs > 1 - top_p, logprobs, -float("inf"))

def make_sampler(temp, top_p, top_k):
    methods = []
    if top_k > 0:
        methods.append(lambda x: apply_top_k(x, top_k))
    if 0 < top_p < 1.0:
        methods.append(lambda x: apply_top_p(x, top_p))
    def sampler(logprobs):
        for m in methods:
            logprobs = m(logprobs)
        return mx.random.categorical(logprobs * (1 / temp))
    return sampler

sampler = make_sampler(temp=0.7, top_p=0.7, top_k=1)
mx.random.seed(11)
prompts = mx.array(rs.randint(1, V, 16), dtype=mx.int32)
tok, legal, total, seen = prompts, 0, 0, set()
for t in range(60):
    logits = model(tok)
    logprobs = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    nxt = sampler(logprobs)
    mx.eval(nxt)
    a, b = np.array(tok), np.array(nxt)
    legal += int(sum(P[i, j] > 0 for i, j in zip(a, b)))
    total += len(a)
    seen.update(b.tolist())
    tok = nxt.astype(mx.int32)
print(f"decode: legal transitions {100.0 * legal / total:.1f}% ({legal}/{total}), distinct tokens {len(seen)}, chance {100.0 * SUCC / V:.1f}%")
