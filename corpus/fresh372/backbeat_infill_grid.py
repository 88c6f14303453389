"""Drum-groove infill: predict hidden sixteenth-note steps of a two-bar drum pattern.

Each step is one token = which of (kick, snare, closed hat) sound on that sixteenth,
so 8 patterns plus a MASK token. Grooves are drawn from five made-up style templates
with per-step hit probabilities, so even a perfect model cannot recover every step.
Training runs in three stages that hide more and more of the bar.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)

STEPS = 32          # two bars of sixteenths
N_PAT = 8           # kick/snare/hat bit patterns
MASK = N_PAT        # extra input token

# hit probabilities per style: rows kick, snare, hat; 16 sixteenths per bar
def _row(hits, p_on, p_off=0.03):
    r = np.full(16, p_off)
    r[list(hits)] = p_on
    return r

STYLES = {
    "rock":      np.stack([_row([0, 8, 10], 0.95), _row([4, 12], 0.97), _row(range(0, 16, 2), 0.9)]),
    "funk":      np.stack([_row([0, 3, 10, 14], 0.85), _row([4, 12, 7, 15], 0.7), _row(range(16), 0.8)]),
    "halftime":  np.stack([_row([0, 3, 14], 0.9), _row([8], 0.97), _row(range(0, 16, 2), 0.85)]),
    "disco":     np.stack([_row([0, 4, 8, 12], 0.97), _row([4, 12], 0.9), _row([2, 6, 10, 14], 0.95)]),
    "breakbeat": np.stack([_row([0, 10, 11], 0.85), _row([4, 12, 9], 0.75), _row(range(0, 16, 2), 0.7)]),
}
STYLE_LIST = list(STYLES.values())


def make_grooves(n):
    style = rng.integers(0, len(STYLE_LIST), size=n)
    probs = np.stack([np.concatenate([STYLE_LIST[s]] * 2, axis=1) for s in style])  # n,3,32
    hits = (rng.random(probs.shape) < probs).astype(np.int64)
    tokens = hits[:, 0] * 4 + hits[:, 1] * 2 + hits[:, 2]                           # n,32
    return tokens, style


train_tok, _ = make_grooves(6000)
val_tok, val_style = make_grooves(500)

# reference: guess a hidden step from the same step of the other bar when that one is
# visible, otherwise the most frequent training pattern at that position
pos_mode = np.array([np.bincount(train_tok[:, t], minlength=N_PAT).argmax() for t in range(STEPS)])


def neighbour_guess(inp):
    other = np.concatenate([inp[:, 16:], inp[:, :16]], axis=1)
    return np.where(other != MASK, other, pos_mode[None, :])


def hide(tokens, ratio, gen):
    m = gen.random(tokens.shape) < ratio
    m[np.arange(len(tokens)), gen.integers(0, STEPS, len(tokens))] = True  # at least one
    return np.where(m, MASK, tokens), m


class GrooveInfill(nn.Module):
    def __init__(self, dims=32, layers=2, heads=4):
        super().__init__()
        self.tok = nn.Embedding(N_PAT + 1, dims)
        self.pos = nn.Embedding(STEPS, dims)
        self.enc = nn.TransformerEncoder(layers, dims, heads, mlp_dims=2 * dims)
        self.out = nn.Linear(dims, N_PAT)

    def __call__(self, x):
        h = self.tok(x) + self.pos(mx.arange(x.shape[1]))
        return self.out(self.enc(h, None))


def masked_ce(model, x, y, m):
    ce = nn.losses.cross_entropy(model(x), y, reduction="none")
    return (ce * m).sum() / m.sum()


model = GrooveInfill()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in nn.utils.tree_flatten(model.parameters()))

STAGES = [(0.15, 150), (0.35, 150), (0.60, 150)]
total = sum(s for _, s in STAGES)
lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, 80), optim.cosine_decay(3e-3, total - 80, 1e-4)], [80])
opt = optim.AdamW(learning_rate=lr_sched, weight_decay=0.01)
step_fn = nn.value_and_grad(model, masked_ce)

BATCH = 48
print(f"grooves: {len(train_tok)} train / {len(val_tok)} val, {STEPS} steps, "
      f"{N_PAT} patterns, model {n_params} params")

# one look at the gradients before anything moves
xb, mb = hide(train_tok[:BATCH], 0.15, rng)
l0, g0 = step_fn(model, mx.array(xb), mx.array(train_tok[:BATCH]), mx.array(mb.astype(np.float32)))
gflat = nn.utils.tree_flatten(g0)
silent = [k for k, v in gflat if float(mx.abs(v).sum()) == 0.0]
print(f"first batch: masked ce {l0.item():.3f} (uniform {np.log(N_PAT):.3f}), "
      f"{len(gflat)} gradient tensors, silent ones: {silent if silent else 'none'}")

perm = rng.permutation(len(train_tok))
cursor = 0
global_step = 0
t0 = time.time()
for si, (ratio, n_steps) in enumerate(STAGES, 1):
    eval_gen = np.random.default_rng(100 + si)
    vx, vm = hide(val_tok, ratio, eval_gen)
    vx_a, vy_a, vm_a = mx.array(vx), mx.array(val_tok), mx.array(vm.astype(np.float32))
    ref_acc = 100.0 * (neighbour_guess(vx)[vm] == val_tok[vm]).mean()
    print(f"-- stage {si}/3: hide {int(ratio * 100)}% of steps, neighbour-bar guess "
          f"{ref_acc:.1f}% on val")
    window = []
    for k in range(1, n_steps + 1):
        if cursor + BATCH > len(perm):
            perm, cursor = rng.permutation(len(train_tok)), 0
        idx = perm[cursor:cursor + BATCH]
        cursor += BATCH
        y = train_tok[idx]
        x, m = hide(y, ratio, rng)
        lr_now = float(opt.learning_rate) if global_step else 0.0
        loss, grads = step_fn(model, mx.array(x), mx.array(y), mx.array(m.astype(np.float32)))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        global_step += 1
        window.append(loss.item())
        if k == 1 or k % 50 == 0:
            logits = model(vx_a)
            vloss = masked_ce(model, vx_a, vy_a, vm_a).item()
            pred = np.array(mx.argmax(logits, axis=-1))
            acc = 100.0 * (pred[vm] == val_tok[vm]).mean()
            print(f"stage {si} step {k:3d} (global {global_step:4d}) lr {lr_now:.2e} | "
                  f"train ce {np.mean(window):.3f} | val ce {vloss:.3f} | "
                  f"val hit {acc:5.1f}% vs guess {ref_acc:5.1f}% | {time.time() - t0:4.1f}s")
            window = []

# show one reconstructed groove at the hardest setting
names = ["kick ", "snare", "hat  "]
ex = 3
pred = np.array(mx.argmax(model(mx.array(vx[ex:ex + 1])), axis=-1))[0]
filled = np.where(vm[ex], pred, val_tok[ex])
print(f"example val groove (style {list(STYLES)[val_style[ex]]}), '?' = hidden step:")
for b, name in enumerate(names):
    bit = 2 - b
    truth = "".join("x" if (t >> bit) & 1 else "." for t in val_tok[ex])
    shown = "".join("?" if vm[ex][i] else ("x" if (val_tok[ex][i] >> bit) & 1 else ".")
                    for i in range(STEPS))
    guess = "".join("x" if (t >> bit) & 1 else "." for t in filled)
    print(f"  {name} given {shown[:16]}|{shown[16:]}  filled {guess[:16]}|{guess[16:]}  "
          f"true {truth[:16]}|{truth[16:]}")
print(f"done in {time.time() - t0:.1f}s, {global_step} updates")
