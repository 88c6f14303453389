# Tiny decoder trained to sort 5 digits: "31415=11345". Loss only on the completion
# (mlx-lm style lengths = [offset, length]). Eval walks a fixed number of batches;
# once the validation rows run out it yields empty padding rows (lengths [0, 0]),
# as the distributed "empty" pad mode does, so every eval call sees the same count.
import math, random, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(0); mx.random.seed(0)
V, L, D = 12, 12, 48          # 0-9 digits, 10 '=', 11 pad
BS, VAL_BATCHES, EVAL_EVERY, PATIENCE = 32, 6, 25, 3

def make(n):
    rows = []
    for _ in range(n):
        d = [random.randrange(10) for _ in range(5)]
        rows.append(d + [10] + sorted(d) + [11])
    return rows

train_rows, val_rows = make(1200), make(120)   # 120 val rows -> 4 real batches of 32 (last partial)

def batches(rows, bs, fixed=None, shuffle=False):
    idx = list(range(len(rows)))
    if shuffle: random.shuffle(idx)
    out = []
    for i in range(0, len(idx), bs):
        chunk = [rows[j] for j in idx[i:i + bs]]
        lens = [[6, 11]] * len(chunk)
        while len(chunk) < bs:
            chunk.append([11] * L); lens.append([0, 0])
        out.append((mx.array(chunk), mx.array(lens)))
    if fixed is not None:
        while len(out) < fixed:   # empty padding batch
            out.append((mx.array([[11] * L] * bs), mx.array([[0, 0]] * bs)))
    return out

class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.att = nn.MultiHeadAttention(d, 4)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.att(h, h, h, mask)
        return x + self.mlp(self.ln2(x))

class Sorter(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(V, D)
        self.pos = nn.Embedding(L, D)
        self.blocks = [Block(D), Block(D)]
        self.out = nn.Linear(D, V)
    def __call__(self, x):
        T = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        for b in self.blocks:
            h = b(h, mask)
        return self.out(h)

def loss_fn(model, batch, lengths):
    inputs, targets = batch[:, :-1], batch[:, 1:]
    logits = model(inputs)
    steps = mx.arange(1, targets.shape[1] + 1)
    mask = mx.logical_and(steps >= lengths[:, 0:1], steps < lengths[:, 1:])
    ce = nn.losses.cross_entropy(logits, targets) * mask
    ntoks = mask.sum()
    ce = ce.astype(mx.float32).sum() / ntoks
    return ce, ntoks

def evaluate(model):
    all_losses = mx.array(0.0)
    ntokens = mx.array(0)
    for batch, lengths in batches(val_rows, BS, fixed=VAL_BATCHES):
        loss, ntoks = loss_fn(model, batch, lengths)
        all_losses += loss * ntoks
        ntokens += ntoks
        mx.eval(all_losses, ntokens)
    return (all_losses / ntokens).item()

def exact_match(model, rows):
    x = mx.array(rows)
    for t in range(6, 11):
        nxt = mx.argmax(model(x[:, :t])[:, -1], axis=-1)
        x = mx.concatenate([x[:, :t], nxt[:, None], x[:, t + 1:]], axis=1)
    return (x[:, 6:11] == mx.array(rows)[:, 6:11]).all(axis=1).mean().item()

model = Sorter()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
vg = nn.value_and_grad(model, loss_fn)

best, bad, step, t0 = math.inf, 0, 0, time.time()
best_w = None
stop = False
for epoch in range(1, 6):
    for batch, lengths in batches(train_rows, BS, shuffle=True):
        (loss, ntoks), grads = vg(model, batch, lengths)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        if step % EVAL_EVERY == 0:
            val = evaluate(model)
            flag = ""
            if val < best:
                best, bad = val, 0
                best_w = dict(nn.utils.tree_flatten(model.parameters()))
                flag = " *"
            else:
                bad += 1
            print(f"Iter {step}: train loss {loss.item():.3f}, val loss {val:.3f}, "
                  f"tokens {int(ntoks.item())}, {time.time() - t0:.1f}s{flag}")
            if bad >= PATIENCE:
                print(f"early stop at iter {step} (no val improvement in {PATIENCE} evals)")
                stop = True
                break
    if stop:
        break

if best_w is not None:
    model.load_weights(list(best_w.items()))
print(f"best val loss {best:.3f}; exact-match on val: {100 * exact_match(model, val_rows):.1f}%")
