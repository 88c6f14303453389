"""Handloom tie-up drafts: a tiny GPT-2 (mlx_lm.models.gpt2) learns the
pick sequences a weaver writes in a draft book, trained from scratch."""
import math, os, tempfile, time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten
from mlx_lm.models import gpt2
from mlx_lm.models.cache import make_prompt_cache

V, L, B = 18, 16, 32
rng = np.random.default_rng(7)

# Draft grammar: each pick depends on the two before it; 4 equally likely
# continuations per context, so the best possible loss is ln 4.
succ = rng.integers(0, V, size=(V, V, 4))
def draft(n):
    out = np.zeros((n, L + 1), dtype=np.int32)
    out[:, 0] = rng.integers(0, V, n); out[:, 1] = rng.integers(0, V, n)
    for t in range(2, L + 1):
        pick = rng.integers(0, 4, n)
        out[:, t] = succ[out[:, t - 2], out[:, t - 1], pick]
    return out
train, val = draft(3000), draft(300)
FLOOR = math.log(4)

def make_model(seed):
    mx.random.seed(seed)
    args = gpt2.ModelArgs(model_type="gpt2", n_ctx=L, n_embd=32, n_head=4, n_layer=2,
                          n_positions=L, layer_norm_epsilon=1e-5, vocab_size=V)
    return gpt2.Model(args)

def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

def val_loss(model):
    x, y = mx.array(val[:, :-1]), mx.array(val[:, 1:])
    return loss_fn(model, x, y).item()

def bigram_baseline():
    c = np.ones((V, V))
    np.add.at(c, (train[:, :-1].ravel(), train[:, 1:].ravel()), 1)
    p = c / c.sum(1, keepdims=True)
    return -np.log(p[val[:, :-1], val[:, 1:]]).mean()

TOTAL, WARM, PAUSE = 400, 30, 200
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, WARM),
                              optim.cosine_decay(3e-3, TOTAL - WARM, 1e-4)], [WARM])

def bar(v, top=3.2, w=30):
    k = int(round(w * min(max(v, 0), top) / top))
    return "#" * k + "." * (w - k)

def run(model, opt, start, stop):
    state = [model.state, opt.state]
    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        l, g = nn.value_and_grad(model, loss_fn)(model, x, y)
        opt.update(model, g)
        return l
    order = np.random.default_rng(start).permutation(len(train))
    acc, n = 0.0, 0
    for it in range(start, stop):
        idx = order[(it * B) % (len(train) - B):][:B]
        bt = train[idx]
        l = step(mx.array(bt[:, :-1]), mx.array(bt[:, 1:]))
        mx.eval(state)
        acc += l.item(); n += 1
        if (it + 1) % 50 == 0:
            vl = val_loss(model)
            print(f"  pick {it+1:4d} |{bar(vl)}| val {vl:.3f}  train {acc/n:.3f}  lr {float(sched(mx.array(it))):.2e}")
            acc, n = 0.0, 0

print(f"draft book: {len(train)} drafts of {L} picks, {V} shed symbols")
print(f"reference: uniform {math.log(V):.3f}  bigram {bigram_baseline():.3f}  grammar floor ln4 {FLOOR:.3f}")
model = make_model(0)
opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
print(f"params {sum(v.size for _, v in tree_flatten(model.parameters()))}")
print(f"start          |{bar(val_loss(model))}| val {val_loss(model):.3f}")
t0 = time.time()
run(model, opt, 0, PAUSE)

# loom is dressed again: weights + optimizer state to disk, new objects from scratch
d = tempfile.mkdtemp()
mx.save_safetensors(os.path.join(d, "model.safetensors"), dict(tree_flatten(model.parameters())))
mx.save_safetensors(os.path.join(d, "opt.safetensors"), dict(tree_flatten(opt.state)))
before = val_loss(model)
del model, opt
model = make_model(123)
model.load_weights(os.path.join(d, "model.safetensors"))
opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
opt.state = tree_unflatten(list(mx.load(os.path.join(d, "opt.safetensors")).items()))
print(f"-- reloaded at pick {PAUSE}: val {val_loss(model):.3f} (was {before:.3f}), optimizer step {opt.state['step'].item()}")
run(model, opt, PAUSE, TOTAL)

# greedy continuation with the KV cache vs a full recompute
prompt = mx.array(val[:8, :6])
cache = make_prompt_cache(model)
logits = model(prompt, cache=cache)
toks = [prompt]
nxt = mx.argmax(logits[:, -1], axis=-1)[:, None]
for _ in range(10):
    toks.append(nxt)
    nxt = mx.argmax(model(nxt, cache=cache)[:, -1], axis=-1)[:, None]
seq = mx.concatenate(toks, axis=1)
full = mx.argmax(model(seq)[:, -1], axis=-1)
legal = np.mean([[s[t] in succ[s[t-2], s[t-1]] for t in range(6, 16)] for s in np.array(seq)])
print(f"greedy picks legal under the grammar {legal:.3f} (random pick {np.mean([len(set(r)) for r in succ.reshape(-1,4)])/V:.3f})")
print(f"cache vs recompute next pick agree {float((full == nxt[:, 0]).mean()):.3f}")
vl = val_loss(model)
print(f"final val {vl:.3f}  gap to floor {vl - FLOOR:+.3f}  wall {time.time()-t0:.1f}s")
