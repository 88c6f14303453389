# Tea auction broker: learn to order catalogue lots for a buyer (pairwise RankNet).
# Stage "coarse" lists mix very different grades; stage "fine" lists hold near-identical lots.
import json, random
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(7); mx.random.seed(7)
NF, LIST = 12, 8
W_TRUE = mx.random.normal((NF,))

def make_lists(n, spread):
    # every list: LIST lots around a list centre; spread controls how far apart their grades are
    centre = mx.random.normal((n, 1, NF))
    x = centre + spread * mx.random.normal((n, LIST, NF))
    lat = x @ W_TRUE + 0.3 * mx.sin(3 * x[..., 0])
    score = lat + 0.01 * mx.random.normal(lat.shape)
    return x, score

class Broker(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(NF, 48), nn.GELU(), nn.Linear(48, 48), nn.GELU())
        self.head = nn.Linear(48, 1)
    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)

def ranknet(model, x, y):
    s = model(x)
    ds = s[:, :, None] - s[:, None, :]
    target = (y[:, :, None] > y[:, None, :]).astype(mx.float32)
    mask = (y[:, :, None] != y[:, None, :]).astype(mx.float32)
    l = nn.losses.binary_cross_entropy(ds, target, with_logits=True, reduction="none")
    return (l * mask).sum() / mask.sum()

def ndcg3(s, y):
    # relevance = rank of true score inside list (0..LIST-1)
    rel = mx.argsort(mx.argsort(y, axis=1), axis=1).astype(mx.float32)
    order = mx.argsort(-s, axis=1)[:, :3]
    ideal = mx.argsort(-y, axis=1)[:, :3]
    disc = 1.0 / mx.log2(mx.arange(2, 5).astype(mx.float32))
    g = ((2 ** mx.take_along_axis(rel, order, axis=1) - 1) * disc).sum(1)
    ig = ((2 ** mx.take_along_axis(rel, ideal, axis=1) - 1) * disc).sum(1)
    return (g / ig).mean().item()

model = Broker()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=2e-3)
lag = nn.value_and_grad(model, ranknet)
state = [model.state, opt.state]

def step(x, y):
    loss, g = lag(model, x, y)
    opt.update(model, g)
    return loss
step = mx.compile(step, inputs=state, outputs=state)

# check every parameter is trained
xg, yg = make_lists(16, 1.0)
_, g0 = lag(model, xg, yg)
from mlx.utils import tree_flatten
for k, v in tree_flatten(g0):
    assert mx.abs(v).sum().item() > 0, k

for stage, spread, rounds in (("coarse", 1.0, 250), ("fine", 0.3, 450)):
    xtr, ytr = make_lists(1500, spread)
    xva, yva = make_lists(300, spread)
    opt.learning_rate = 2e-3 if stage == "coarse" else 7e-4
    rand_nd = ndcg3(mx.random.normal(yva.shape), yva)
    for r in range(rounds):
        idx = mx.array(random.sample(range(1500), 64))
        loss = step(xtr[idx], ytr[idx])
        mx.eval(state, loss)
        if r % 75 == 0 or r == rounds - 1:
            nd = ndcg3(model(xva), yva)
            print(json.dumps({"stage": stage, "round": r, "pair_bce": round(loss.item(), 4),
                              "ndcg@3_pct": round(100 * nd, 1), "random_pct": round(100 * rand_nd, 1)}))
print(json.dumps({"done": True, "params": sum(v.size for _, v in tree_flatten(model.parameters()))}))
