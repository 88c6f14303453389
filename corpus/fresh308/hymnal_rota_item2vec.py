import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

# Parish hymn rota: which hymns get sung in the same service.
# item2vec (skip-gram with negative sampling) over synthetic service lists,
# Adam with lazy row updates: rows not touched by a batch are restored after each step.
rng = np.random.default_rng(7)
V, D, SEASONS = 240, 16, 6
season_of = rng.integers(0, SEASONS, size=V)
pop = rng.pareto(1.3, size=V) + 1.0

def service():
    s = rng.integers(0, SEASONS)
    members = np.flatnonzero(season_of == s)
    p = pop[members] / pop[members].sum()
    return rng.choice(members, size=5, replace=False, p=p)

services = [service() for _ in range(3000)]
pairs = np.array([(a, b) for sv in services for a in sv for b in sv if a != b], dtype=np.int32)
rng.shuffle(pairs)
held = pairs[:2000]; train = pairs[2000:]
neg_p = pop ** 0.75; neg_p = neg_p / neg_p.sum()

class Item2Vec(nn.Module):
    def __init__(self):
        super().__init__()
        self.centre = nn.Embedding(V, D)
        self.context = nn.Embedding(V, D)
        self.context.weight = mx.zeros((V, D))

    def __call__(self, c, pos, neg):
        ec = self.centre(c)
        sp = (ec * self.context(pos)).sum(-1)
        sn = (ec[:, None, :] * self.context(neg)).sum(-1)
        return -(nn.log_sigmoid(sp).mean() + nn.log_sigmoid(-sn).sum(-1).mean())

def hit_at_10(model):
    E = model.centre.weight
    E = E / (mx.linalg.norm(E, axis=1, keepdims=True) + 1e-8)
    sims = E[mx.array(held[:, 0])] @ E.T
    sims = sims - 1e9 * mx.eye(V)[mx.array(held[:, 0])]
    top = mx.argpartition(-sims, 10, axis=1)[:, :10]
    return (top == mx.array(held[:, 1])[:, None]).any(axis=1).mean().item()

B, K, TOTAL, WARM = 512, 5, 1600, 200
sched = optim.join_schedules([optim.linear_schedule(0.0, 0.02, WARM), optim.cosine_decay(0.02, TOTAL - WARM, 1e-3)], [WARM])

def build(step0=0, state=None, weights=None):
    model = Item2Vec()
    opt = optim.Adam(learning_rate=sched)
    if weights is not None:
        model.update(tree_unflatten(list(weights.items())))
    opt.init(model.trainable_parameters())
    if state is not None:
        opt.state = tree_unflatten(list(state.items()))
    mx.eval(model.parameters(), opt.state)
    return model, opt

def run(model, opt, start, stop):
    loss_and_grad = nn.value_and_grad(model, lambda m, c, p, n: m(c, p, n))
    for step in range(start, stop):
        idx = rng.integers(0, len(train), size=B)
        c, p = train[idx, 0], train[idx, 1]
        n = rng.choice(V, size=(B, K), p=neg_p).astype(np.int32)
        before = {k: v for k, v in tree_flatten(model.parameters())}
        loss, g = loss_and_grad(model, mx.array(c), mx.array(p), mx.array(n))
        opt.update(model, g)
        tc = np.zeros(V, bool); tc[c] = True
        tx = np.zeros(V, bool); tx[p] = True; tx[n.ravel()] = True
        mc, mxk = mx.array(tc)[:, None], mx.array(tx)[:, None]
        model.centre.weight = mx.where(mc, model.centre.weight, before["centre.weight"])
        model.context.weight = mx.where(mxk, model.context.weight, before["context.weight"])
        mx.eval(model.parameters(), opt.state, loss)
        if step % 200 == 0 or step == stop - 1:
            print(f"step {step:5d}  lr {opt.learning_rate.item():.5f}  sgns loss {loss.item():.4f}")
        if step % 400 == 399:
            print(f"           held-out hit@10 {hit_at_10(model):.3f}  (random {10/(V-1):.3f}, by-popularity {pop_base:.3f})")

top_pop = np.argsort(-pop)[:11]
pop_base = float(np.mean([b in [t for t in top_pop if t != a][:10] for a, b in held]))
t0 = time.time()
model, opt = build()
print(f"hymns {V}, pairs {len(train)}, held {len(held)}; start hit@10 {hit_at_10(model):.3f}")
run(model, opt, 0, 800)

ck = tempfile.mkdtemp()
mx.save_safetensors(os.path.join(ck, "w.safetensors"), dict(tree_flatten(model.parameters())))
mx.save_safetensors(os.path.join(ck, "o.safetensors"), dict(tree_flatten(opt.state)))
print("checkpoint written at step 800; reloading into a fresh process-like state")
del model, opt
model, opt = build(800, mx.load(os.path.join(ck, "o.safetensors")), mx.load(os.path.join(ck, "w.safetensors")))
print(f"resumed at step {opt.step.item()}  lr {opt.learning_rate.item():.5f}  hit@10 {hit_at_10(model):.3f}")
run(model, opt, 800, TOTAL)
final = hit_at_10(model)
print(f"final held-out hit@10 {final:.3f}  vs random {10/(V-1):.3f}  vs popularity {pop_base:.3f}  ({time.time()-t0:.1f}s)")
