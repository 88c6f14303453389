"""Quarry weighbridge ledger: recall a truck's load class across segment borders.

Each ledger record is  [TRUCK] class  filler... [ASK] class : the class is
written once and asked for again 23 tickets later.  The model reads the
stream in 16-token segments and carries a 32-position memory of the previous
hidden states (Transformer-XL style, no gradient through the memory).
Filler tickets are random, so the mean loss has a floor well above zero.
"""

import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

N_CLASS, N_FILL = 8, 32
TRUCK, ASK = N_CLASS + N_FILL, N_CLASS + N_FILL + 1
VOCAB = N_CLASS + N_FILL + 2
SEG, MEM = 16, 32
STREAMS, SEGS_PER_EPOCH = 12, 40
EPOCHS = 10
DIM, HEADS, LAYERS = 32, 4, 2


def make_streams(rng, n_streams, length):
    """Token streams and a flag marking the answer position after [ASK]."""
    toks = np.zeros((n_streams, length + 1), dtype=np.int32)
    ans = np.zeros((n_streams, length + 1), dtype=np.float32)
    for s in range(n_streams):
        row, flag = [], []
        # random phase so record borders do not line up with segments
        for _ in range(rng.integers(0, 20)):
            row.append(N_CLASS + rng.integers(0, N_FILL)); flag.append(0)
        while len(row) < length + 1:
            c = int(rng.integers(0, N_CLASS))
            gap = 22
            row += [TRUCK, c]
            flag += [0, 0]
            row += list(N_CLASS + rng.integers(0, N_FILL, size=gap))
            flag += [0] * gap
            row += [ASK, c]
            flag += [0, 1]
        toks[s] = row[: length + 1]
        ans[s] = flag[: length + 1]
    return toks, ans


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1 = nn.RMSNorm(DIM)
        self.n2 = nn.RMSNorm(DIM)
        self.q = nn.Linear(DIM, DIM, bias=False)
        self.kv = nn.Linear(DIM, 2 * DIM, bias=False)
        self.o = nn.Linear(DIM, DIM, bias=False)
        self.ff1 = nn.Linear(DIM, 4 * DIM)
        self.ff2 = nn.Linear(4 * DIM, DIM)

    def __call__(self, x, mem, mask):
        B, T, _ = x.shape
        M = mem.shape[1]
        h = self.n1(x)
        ctx = mx.concatenate([self.n1(mem), h], axis=1)
        q = self.q(h).reshape(B, T, HEADS, -1).transpose(0, 2, 1, 3)
        k, v = mx.split(self.kv(ctx), 2, axis=-1)
        k = k.reshape(B, M + T, HEADS, -1).transpose(0, 2, 1, 3)
        v = v.reshape(B, M + T, HEADS, -1).transpose(0, 2, 1, 3)
        # relative rotary positions: queries sit after the memory
        q = mx.fast.rope(q, DIM // HEADS, traditional=False, base=10000.0, scale=1.0, offset=M)
        k = mx.fast.rope(k, DIM // HEADS, traditional=False, base=10000.0, scale=1.0, offset=0)
        a = mx.fast.scaled_dot_product_attention(q, k, v, scale=(DIM // HEADS) ** -0.5, mask=mask)
        x = x + self.o(a.transpose(0, 2, 1, 3).reshape(B, T, DIM))
        return x + self.ff2(nn.gelu(self.ff1(self.n2(x))))


class LedgerXL(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, DIM)
        self.blocks = [Block() for _ in range(LAYERS)]
        self.norm = nn.RMSNorm(DIM)
        self.head = nn.Linear(DIM, VOCAB)

    def __call__(self, tokens, mems):
        T = tokens.shape[1]
        M = mems[0].shape[1]
        qi = mx.arange(T)[:, None]
        kj = mx.arange(M + T)[None, :]
        mask = mx.where(kj <= qi + M, 0.0, -1e9).astype(mx.float32)
        x = self.emb(tokens)
        new_mems = []
        for blk, mem in zip(self.blocks, mems):
            # memory for the next segment = the inputs this layer saw, detached
            new_mems.append(mx.stop_gradient(mx.concatenate([mem, x], axis=1)[:, -MEM:]))
            x = blk(x, mem, mask)
        return self.head(self.norm(x)), new_mems


def empty_mems(n):
    return [mx.zeros((n, MEM, DIM)) for _ in range(LAYERS)]


def loss_fn(model, x, y, a, mems):
    logits, new_mems = model(x, mems)
    ce = nn.losses.cross_entropy(logits, y, reduction="none")
    hit = (mx.argmax(logits, axis=-1) == y).astype(mx.float32)
    return ce.mean(), (new_mems, (hit * a).sum(), a.sum())


def evaluate(model, toks, ans, use_memory):
    mems = empty_mems(toks.shape[0])
    tot_ce, hits, asks = 0.0, 0.0, 0.0
    nseg = (toks.shape[1] - 1) // SEG
    for s in range(nseg):
        sl = slice(s * SEG, (s + 1) * SEG)
        x = mx.array(toks[:, sl])
        y = mx.array(toks[:, s * SEG + 1:(s + 1) * SEG + 1])
        a = mx.array(ans[:, s * SEG + 1:(s + 1) * SEG + 1])
        logits, new_mems = model(x, mems if use_memory else empty_mems(toks.shape[0]))
        mems = new_mems
        ce = nn.losses.cross_entropy(logits, y, reduction="mean")
        hit = ((mx.argmax(logits, axis=-1) == y).astype(mx.float32) * a).sum()
        mx.eval(ce, hit, *mems)
        tot_ce += ce.item()
        hits += hit.item()
        asks += a.sum().item()
    return tot_ce / nseg, 100.0 * hits / max(asks, 1.0)


def main():
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    model = LedgerXL()
    mx.eval(model.parameters())
    n_par = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))

    total_steps = EPOCHS * SEGS_PER_EPOCH
    warm = 40
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total_steps - warm, 1e-4)],
        [warm],
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    grad_fn = nn.value_and_grad(model, loss_fn)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(x, y, a, mems):
        (loss, (new_mems, hits, asks)), grads = grad_fn(model, x, y, a, mems)
        grads, gnorm = optim.clip_grad_norm(grads, 1.0)
        opt.update(model, grads)
        return loss, new_mems, hits, asks

    val_toks, val_ans = make_streams(np.random.default_rng(99), 16, SEG * 8)

    # entropy floor of the stream: random filler and random classes after [TRUCK]
    floor = (math.log(N_CLASS) + 22 * math.log(N_FILL)) / 26  # class + fillers per 26-token record

    print("% quarry weighbridge ledger, segment memory transformer")
    print(f"% params {n_par}, segment {SEG}, memory {MEM}, streams {STREAMS}, steps {total_steps}")
    print(f"% chance recall {100.0 / N_CLASS:.2f}\\%, rough loss floor {floor:.2f} nats")
    print("\\begin{tabular}{rrrrrrr}")
    print("epoch & step & lr & train nats & held-out nats & recall \\% & recall, memory off \\% \\\\ \\hline")
    v_ce, v_rec = evaluate(model, val_toks, val_ans, True)
    _, v_rec0 = evaluate(model, val_toks, val_ans, False)
    print(f"0 & 0 & 0 & -- & {v_ce:.3f} & {v_rec:.1f} & {v_rec0:.1f} \\\\")

    step = 0
    t0 = time.time()
    for ep in range(1, EPOCHS + 1):
        toks, ans = make_streams(rng, STREAMS, SEG * SEGS_PER_EPOCH)
        mems = empty_mems(STREAMS)
        run, hit_sum, ask_sum = [], 0.0, 0.0
        for s in range(SEGS_PER_EPOCH):
            x = mx.array(toks[:, s * SEG:(s + 1) * SEG])
            y = mx.array(toks[:, s * SEG + 1:(s + 1) * SEG + 1])
            a = mx.array(ans[:, s * SEG + 1:(s + 1) * SEG + 1])
            lr_used = float(sched(mx.array(opt.step)))
            if step == 0:
                _, grads = grad_fn(model, x, y, a, mems)
                leaves = tree_flatten(grads)
                nz = sum(1 for _, g in leaves if mx.abs(g).sum().item() > 0)
                print(f"% first step: lr {lr_used:g}, {nz}/{len(leaves)} gradient arrays non-zero")
            loss, mems, hits, asks = train_step(x, y, a, mems)
            mx.eval(model.parameters(), opt.state, loss, hits, asks, *mems)
            run.append(loss.item())
            hit_sum += hits.item()
            ask_sum += asks.item()
            step += 1
        v_ce, v_rec = evaluate(model, val_toks, val_ans, True)
        _, v_rec0 = evaluate(model, val_toks, val_ans, False)
        print(f"{ep} & {step} & {lr_used:.2e} & {np.mean(run):.3f} & {v_ce:.3f} & "
              f"{v_rec:.1f} & {v_rec0:.1f} \\\\")
    print("\\end{tabular}")
    print(f"% done in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
