"""Cloze pretraining on quarry weighbridge ledger lines.

Each line: [CLS] quarry stone grade truck tonnage destination weekday remarks.. [SEP] [PAD]..
A small encoder learns to fill in masked fields (BERT-style 80/10/10 corruption).
The mask rate is lowered in three stages (40% -> 25% -> 15%), micro-batches are
accumulated two at a time, matrices use AdamW and norms/biases plain Adam, and the
run is checkpointed to disk at update 150, rebuilt from scratch and resumed.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten, tree_map

PAD, CLS, SEP, MASK = 0, 1, 2, 3
N_QUARRY, N_STONE, N_GRADE, N_TRUCK, N_TON, N_DEST, N_DAY, N_REM = 6, 5, 4, 10, 8, 12, 7, 10
OFF = {}
o = 4
for name, n in [("quarry", N_QUARRY), ("stone", N_STONE), ("grade", N_GRADE), ("truck", N_TRUCK),
                ("ton", N_TON), ("dest", N_DEST), ("day", N_DAY), ("rem", N_REM)]:
    OFF[name] = o
    o += n
VOCAB = o
MAXLEN = 13

rng = np.random.default_rng(7)
QUARRY_STONES = rng.integers(0, N_STONE, size=(N_QUARRY, 2))
STONE_GRADE = rng.integers(0, N_GRADE, size=(N_STONE,))
TRUCK_CLASS = rng.integers(0, 3, size=(N_TRUCK,))
STONE_DESTS = rng.integers(0, N_DEST, size=(N_STONE, 2))


def make_lines(n, g):
    out = np.full((n, MAXLEN), PAD, dtype=np.int32)
    for i in range(n):
        q = g.integers(N_QUARRY)
        s = QUARRY_STONES[q, g.integers(2)]
        gr = STONE_GRADE[s] if g.random() < 0.85 else g.integers(N_GRADE)
        t = g.integers(N_TRUCK)
        ton = min(N_TON - 1, 2 * TRUCK_CLASS[t] + g.integers(3))
        d = STONE_DESTS[s, g.integers(2)]
        day = g.integers(N_DAY)
        rem = list(g.integers(0, N_REM, size=g.integers(0, 4)))
        toks = [CLS, OFF["quarry"] + q, OFF["stone"] + s, OFF["grade"] + gr, OFF["truck"] + t,
                OFF["ton"] + ton, OFF["dest"] + d, OFF["day"] + day] + [OFF["rem"] + r for r in rem] + [SEP]
        out[i, :len(toks)] = toks
    return out


def corrupt(batch, rate, g):
    special = (batch == PAD) | (batch == CLS) | (batch == SEP)
    pick = (g.random(batch.shape) < rate) & ~special
    roll = g.random(batch.shape)
    inp = batch.copy()
    inp[pick & (roll < 0.8)] = MASK
    swap = pick & (roll >= 0.8) & (roll < 0.9)
    inp[swap] = g.integers(4, VOCAB, size=int(swap.sum()))
    return inp, pick.astype(np.float32)


class LedgerEncoder(nn.Module):
    def __init__(self, dims=48, heads=4, layers=2):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, dims)
        self.pos = nn.Embedding(MAXLEN, dims)
        self.encoder = nn.TransformerEncoder(layers, dims, heads, mlp_dims=2 * dims, norm_first=True)
        self.head_proj = nn.Linear(dims, dims)
        self.head_norm = nn.LayerNorm(dims)
        self.out_bias = mx.zeros((VOCAB,))

    def __call__(self, ids):
        L = ids.shape[1]
        x = self.tok(ids) + self.pos(mx.arange(L))
        keep = (ids != PAD)
        attn = mx.where(keep[:, None, None, :], 0.0, -1e9).astype(x.dtype)
        h = self.encoder(x, attn)
        h = self.head_norm(nn.gelu(self.head_proj(h)))
        return self.tok.as_linear(h) + self.out_bias


def cloze_loss(model, inp, target, weight):
    logits = model(inp)
    ce = nn.losses.cross_entropy(logits, target, reduction="none")
    return (ce * weight).sum() / mx.maximum(weight.sum(), 1.0)


def build(total_updates):
    model = LedgerEncoder()
    sched = optim.linear_schedule(3e-3, 3e-4, total_updates)
    opt = optim.MultiOptimizer(
        [optim.AdamW(learning_rate=sched, weight_decay=0.01), optim.Adam(learning_rate=sched)],
        [lambda path, w: w.ndim == 2],
    )
    return model, opt


def evaluate(model, inp, target, weight):
    logits = model(inp)
    pred = mx.argmax(logits, axis=-1)
    hit = ((pred == target).astype(mx.float32) * weight).sum() / weight.sum()
    loss = cloze_loss(model, inp, target, weight)
    return loss.item(), hit.item()


def main():
    mx.random.seed(0)
    g = np.random.default_rng(11)
    train = make_lines(6000, g)
    held = make_lines(600, np.random.default_rng(99))
    h_inp, h_w = corrupt(held, 0.15, np.random.default_rng(5))
    h_inp, h_t, h_w = mx.array(h_inp), mx.array(held), mx.array(h_w)

    # baseline: most frequent token at each position in the training lines
    pos_mode = np.array([np.bincount(train[:, j], minlength=VOCAB).argmax() for j in range(MAXLEN)])
    base_pred = np.broadcast_to(pos_mode, held.shape)
    hw = np.array(h_w)
    base_acc = float(((base_pred == held) * hw).sum() / hw.sum())

    total, accum, micro = 300, 2, 16
    stages = [(0, 0.40), (100, 0.25), (200, 0.15)]
    model, opt = build(total)
    loss_and_grad = nn.value_and_grad(model, cloze_loss)
    ckpt_dir = tempfile.mkdtemp()
    print(f"vocab={VOCAB} train_lines={len(train)} held_lines={len(held)} "
          f"position-mode baseline held acc={base_acc:.3f}")
    t0 = time.time()
    step = 0
    while step < total:
        rate = [r for s, r in stages if step >= s][-1]
        grads_sum, loss_sum = None, 0.0
        for _ in range(accum):
            idx = g.integers(0, len(train), size=micro)
            batch = train[idx]
            inp, w = corrupt(batch, rate, g)
            loss, grads = loss_and_grad(model, mx.array(inp), mx.array(batch), mx.array(w))
            grads_sum = grads if grads_sum is None else tree_map(lambda a, b: a + b, grads_sum, grads)
            loss_sum += loss
        grads = tree_map(lambda a: a / accum, grads_sum)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        step += 1
        train_loss = (loss_sum / accum).item()

        if step in (100, 200):
            print(f"-- stage change: mask rate {rate:.2f} -> {[r for s, r in stages if step >= s][-1]:.2f}")
        quiet = 50 < step < 150
        if (step % 25 == 0 and not quiet) or step == 1:
            hl, ha = evaluate(model, h_inp, h_t, h_w)
            print(f"update {step:4d} rate {rate:.2f} train_cloze {train_loss:.3f} "
                  f"held_cloze {hl:.3f} held_acc {ha:.3f} (baseline {base_acc:.3f}) "
                  f"{time.time() - t0:5.1f}s")

        if step == 150:
            wpath = os.path.join(ckpt_dir, "model.safetensors")
            opath = os.path.join(ckpt_dir, "opt.safetensors")
            model.save_weights(wpath)
            mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
            before, _ = evaluate(model, h_inp, h_t, h_w)
            del model, opt
            model, opt = build(total)
            model.load_weights(wpath)
            opt.state = tree_unflatten(list(mx.load(opath).items()))
            loss_and_grad = nn.value_and_grad(model, cloze_loss)
            after, _ = evaluate(model, h_inp, h_t, h_w)
            print(f"checkpoint written and reloaded at update {step}: held_cloze {before:.4f} -> {after:.4f}")

    hl, ha = evaluate(model, h_inp, h_t, h_w)
    print(f"final held_cloze {hl:.3f} held_acc {ha:.3f} vs position-mode baseline {base_acc:.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
