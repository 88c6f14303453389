# Quarry core-logging bench: each drill core arrives as 6 strata readings (8 sensor
# channels each).  Rock classes come in three deliveries (2 new classes each).  A frozen
# encoder is kept as is; a pool of small prompts with learned keys (Learning-to-Prompt,
# Wang et al. 2022) is matched against each core's query feature, the best two prompts are
# prepended, and only prompts, keys and the classifier head are trained, one delivery
# after another.  Logits are restricted to the current delivery's classes while training,
# and prompts (with their keys) picked by an earlier delivery are locked afterwards.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(11)
rng = np.random.default_rng(11)
CH, STRATA, D, CLASSES = 8, 6, 32, 6
DELIVERIES = [(0, 1), (2, 3), (4, 5)]
centres = rng.normal(0, 1.0, size=(CLASSES, STRATA, CH))


def cores(n, classes):
    y = rng.choice(classes, size=n)
    x = centres[y] + rng.normal(0, 0.9, size=(n, STRATA, CH))
    return mx.array(x, dtype=mx.float32), mx.array(y, dtype=mx.int32)


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(CH, D)
        self.pos = mx.random.normal((STRATA, D)) * 0.1
        self.enc = nn.TransformerEncoder(num_layers=2, dims=D, num_heads=4, mlp_dims=64)

    def embed(self, x):
        return self.proj(x) + self.pos

    def __call__(self, tokens):
        return self.enc(tokens, None)


class PromptPool(nn.Module):
    def __init__(self, size=8, length=2, top=2):
        super().__init__()
        self.prompts = mx.random.uniform(-1, 1, (size, length, D)) * 0.1
        self.pkeys = mx.random.uniform(-1, 1, (size, D))
        self.head = nn.Linear(D, CLASSES)
        self.top, self.length = top, length

    def select(self, query):
        qn = query / (mx.linalg.norm(query, axis=-1, keepdims=True) + 1e-6)
        kn = self.pkeys / (mx.linalg.norm(self.pkeys, axis=-1, keepdims=True) + 1e-6)
        sim = qn @ kn.T                                          # (B, size)
        idx = mx.stop_gradient(mx.argsort(-sim, axis=-1)[:, : self.top])
        return idx, mx.take_along_axis(sim, idx, axis=-1)


backbone = Backbone()
mx.eval(backbone.parameters())
backbone.freeze()
pool = PromptPool()
mx.eval(pool.parameters())
print(f"frozen backbone arrays trainable: {len(tree_flatten(backbone.trainable_parameters()))}; "
      f"pool+head params: {sum(v.size for _, v in tree_flatten(pool.trainable_parameters()))}")


def forward(p, x):
    tok = backbone.embed(x)
    query = mx.stop_gradient(backbone(tok).mean(axis=1))
    idx, sim = p.select(query)
    chosen = p.prompts[idx].reshape(x.shape[0], p.top * p.length, D)
    out = backbone(mx.concatenate([chosen, tok], axis=1))
    feat = out[:, : p.top * p.length].mean(axis=1)
    return p.head(feat), idx, sim


def loss_fn(p, x, y, allowed):
    logits, _, sim = forward(p, x)
    logits = mx.where(allowed, logits, -1e9)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    pull = mx.mean(1.0 - sim)                    # draws the chosen keys toward the queries
    return ce + 0.3 * pull, ce


def accuracy(p, x, y, seen):
    logits, idx, _ = forward(p, x)
    mask = mx.array([c in seen for c in range(CLASSES)])
    pred = mx.argmax(mx.where(mask, logits, -1e9), axis=-1)
    return mx.mean((pred == y).astype(mx.float32)).item(), np.array(idx)


tests = [cores(400, list(cls)) for cls in DELIVERIES]
STEPS = 150
vg = nn.value_and_grad(pool, lambda p, x, y, a: loss_fn(p, x, y, a))
seen = []
matrix = []
locked = np.zeros(8, dtype=np.float32)
t0 = time.time()
for t, cls in enumerate(DELIVERIES):
    seen += list(cls)
    allowed = mx.array([c in cls for c in range(CLASSES)])
    opt = optim.Adam(learning_rate=optim.cosine_decay(2e-2, STEPS, 1e-3))
    first_ce = None
    for step in range(1, STEPS + 1):
        x, y = cores(64, list(cls))
        (loss, ce), g = vg(pool, x, y, allowed)
        keep = mx.array(1.0 - locked)
        g["prompts"] = g["prompts"] * keep[:, None, None]
        g["pkeys"] = g["pkeys"] * keep[:, None]
        opt.update(pool, g)
        mx.eval(pool.parameters(), opt.state, loss, ce)
        if step == 1:
            first_ce = ce.item()
    row = []
    for j in range(t + 1):
        a, idx = accuracy(pool, *tests[j], seen)
        row.append(a)
    matrix.append(row)
    _, idx = accuracy(pool, *tests[t], seen)
    use = np.bincount(idx.ravel(), minlength=8)
    locked = np.maximum(locked, (use > 0).astype(np.float32))
    print(f"delivery {t} classes {cls}: ce first step {first_ce:.3f} -> last {ce.item():.3f}; "
          f"prompt use {use.tolist()}")
    print(f"  acc on deliveries so far (all {len(seen)} seen classes): "
          + "  ".join(f"d{j}={a:.3f}" for j, a in enumerate(row))
          + f"  | chance {1/len(seen):.3f}  locked prompts {int(locked.sum())}/8")
avg = float(np.mean(matrix[-1]))
forget = float(np.mean([max(matrix[k][j] for k in range(j, len(matrix) - 1)) - matrix[-1][j]
                        for j in range(len(matrix) - 1)]))
print(f"final average accuracy {avg:.3f}  average forgetting {forget:.3f}  ({time.time()-t0:.1f}s)")
