"""Harbour radio log: char-level windowed neural n-gram language model over synthetic beacon / call-sign messages.

Gradient accumulation (4 micro-batches of variable-length, padded messages per optimizer step),
token-weighted loss windows, tokens/sec, linear warm-up from exactly 0, a checkpoint and a resume
into fresh objects halfway, and validation bits-per-char beside unigram and bigram baselines.
Output: tab-separated rows.
"""
import json
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

ALPHA = "^$ ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/"
PAD = len(ALPHA)
V = len(ALPHA) + 1
stoi = {c: i for i, c in enumerate(ALPHA)}


def callsign(rng):
    L = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    pre = rng.choice(["K", "W", "G", "F", "VK", "JA", "DL", "EA"])
    return pre + str(rng.integers(0, 10)) + "".join(rng.choice(list(L), size=rng.integers(2, 4)))


def message(rng):
    a, b = callsign(rng), callsign(rng)
    kind = rng.integers(0, 4)
    if kind == 0:
        m = f"CQ CQ DE {a} {a} K"
    elif kind == 1:
        m = f"{b} DE {a} UR RST {rng.choice(['599', '579', '559'])} {rng.choice(['599', '579'])} BK"
    elif kind == 2:
        m = f"{b} DE {a} QTH {rng.choice(['PORT', 'BAY', 'PIER', 'DOCK'])} {rng.integers(1, 40)} AR"
    else:
        m = f"{a}/M QRV {rng.choice(['CH16', 'CH12', 'CH09'])} SK"
    return "^" + m + "$"


def encode(batch_msgs):
    T = max(len(m) for m in batch_msgs)
    arr = np.full((len(batch_msgs), T), PAD, dtype=np.int32)
    for i, m in enumerate(batch_msgs):
        arr[i, : len(m)] = [stoi[c] for c in m]
    return arr


class WindowLM(nn.Module):
    """Bengio-style neural n-gram: embeddings of the previous K chars -> MLP -> next char."""

    def __init__(self, k=8, dim=16, hidden=96):
        super().__init__()
        self.k = k
        self.emb = nn.Embedding(V, dim)
        self.l1 = nn.Linear(k * dim, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, V)

    def __call__(self, x):
        B, T = x.shape
        padded = mx.concatenate([mx.full((B, self.k - 1), PAD, dtype=x.dtype), x], axis=1)
        ctx = mx.stack([padded[:, i : i + T] for i in range(self.k)], axis=2)  # B,T,k
        h = self.emb(ctx).reshape(B, T, -1)
        h = nn.relu(self.l1(h))
        h = h + nn.relu(self.l2(h))
        return self.head(h)


def loss_sum(model, x):
    inp, tgt = x[:, :-1], x[:, 1:]
    mask = (tgt != PAD).astype(mx.float32)
    ce = nn.losses.cross_entropy(model(inp), tgt, reduction="none")
    return (ce * mask).sum(), mask.sum()


def baselines(train_msgs, val_msgs):
    uni = np.ones(V)
    bi = np.ones((V, V))
    for m in train_msgs:
        ids = [stoi[c] for c in m]
        for c in ids[1:]:
            uni[c] += 1
        for a, b in zip(ids[:-1], ids[1:]):
            bi[a, b] += 1
    uni /= uni.sum()
    bi /= bi.sum(1, keepdims=True)
    nu = nb = n = 0.0
    for m in val_msgs:
        ids = [stoi[c] for c in m]
        for a, b in zip(ids[:-1], ids[1:]):
            nu -= math.log2(uni[b])
            nb -= math.log2(bi[a, b])
            n += 1
    return nu / n, nb / n


def val_bpc(model, val_arr):
    tot, cnt = 0.0, 0.0
    for i in range(0, val_arr.shape[0], 256):
        s, c = loss_sum(model, mx.array(val_arr[i : i + 256]))
        tot += s.item()
        cnt += c.item()
    return tot / cnt / math.log(2)


def make_opt(total_steps, warm):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total_steps - warm, 1e-4)], [warm]
    )
    return optim.AdamW(learning_rate=sched, weight_decay=0.01)


def run_session(name, model, opt, counters, stop_at, train_msgs, val_arr, rng, total_steps, accum, micro_bs):
    vg = nn.value_and_grad(model, lambda m, x: (lambda s, c: s / c)(*loss_sum(m, x)))
    win_nll = win_tok = 0.0
    t0 = time.perf_counter()
    while counters["opt_step"] < stop_at:
        acc = None
        step_nll = step_tok = 0.0
        for _ in range(accum):
            idx = rng.integers(0, len(train_msgs), size=micro_bs)
            arr = encode([train_msgs[i] for i in idx])
            x = mx.array(arr)
            ntok = float((arr[:, 1:] != PAD).sum())
            loss, g = vg(model, x)
            # token-weighted accumulation
            g = tree_map_scale(g, ntok)
            acc = g if acc is None else tree_add(acc, g)
            step_nll += loss.item() * ntok
            step_tok += ntok
            counters["micro_step"] += 1
        acc = tree_map_scale(acc, 1.0 / step_tok)
        lr_now = float(opt.learning_rate.item()) if isinstance(opt.learning_rate, mx.array) else float(opt.learning_rate)
        before = model.head.bias[0].item() if counters["opt_step"] == 0 else None
        opt.update(model, acc)
        mx.eval(model.parameters(), opt.state)
        counters["opt_step"] += 1
        counters["tokens"] += int(step_tok)
        win_nll += step_nll
        win_tok += step_tok
        if before is not None:
            print(f"#\tfirst update lr={lr_now:.1e}\thead.bias[0] change={abs(model.head.bias[0].item() - before):.2e}")
        s = counters["opt_step"]
        if s % 30 == 0 or s == 1:
            dt = time.perf_counter() - t0
            msg = f"{name}\t{s}\t{counters['micro_step']}\t{counters['tokens']}\t{lr_now:.2e}\t{win_nll / win_tok / math.log(2):.3f}"
            if s % 90 == 0:
                msg += f"\t{val_bpc(model, val_arr):.3f}"
            else:
                msg += "\t-"
            msg += f"\t{win_tok / max(dt, 1e-9):.0f}"
            print(msg)
            win_nll = win_tok = 0.0
            t0 = time.perf_counter()


def tree_map_scale(t, a):
    from mlx.utils import tree_map
    return tree_map(lambda v: v * a, t)


def tree_add(a, b):
    from mlx.utils import tree_map
    return tree_map(lambda x, y: x + y, a, b)


def main():
    rng = np.random.default_rng(3)
    mx.random.seed(3)
    train_msgs = [message(rng) for _ in range(6000)]
    val_msgs = [message(rng) for _ in range(300)]
    val_arr = encode(val_msgs)
    uni_bpc, bi_bpc = baselines(train_msgs, val_msgs)
    print(f"#\tbaselines\tunigram_bpc={uni_bpc:.3f}\tbigram_bpc={bi_bpc:.3f}\tuniform_bpc={math.log2(V - 1):.3f}")

    total, warm, accum, micro_bs = 360, 40, 4, 8
    model = WindowLM()
    mx.eval(model.parameters())
    opt = make_opt(total, warm)
    counters = {"opt_step": 0, "micro_step": 0, "tokens": 0}
    print(f"#\tuntrained val_bpc={val_bpc(model, val_arr):.3f}")
    print("session\topt_step\tmicro_step\ttokens\tlr\ttrain_bpc(window)\tval_bpc\ttok_per_s")
    run_session("s1", model, opt, counters, 180, train_msgs, val_arr, rng, total, accum, micro_bs)

    with tempfile.TemporaryDirectory() as d:
        model.save_weights(os.path.join(d, "w.safetensors"))
        mx.save_safetensors(os.path.join(d, "opt.safetensors"), dict(tree_flatten(opt.state)))
        with open(os.path.join(d, "counters.json"), "w") as f:
            json.dump(counters, f)
        ref = val_bpc(model, val_arr)
        print(f"#\tcheckpoint at opt_step {counters['opt_step']} val_bpc={ref:.4f}")
        del model, opt
        model = WindowLM()
        model.load_weights(os.path.join(d, "w.safetensors"))
        opt = make_opt(total, warm)
        opt.state = tree_unflatten(list(mx.load(os.path.join(d, "opt.safetensors")).items()))
        with open(os.path.join(d, "counters.json")) as f:
            counters = json.load(f)
        print(f"#\tresumed opt_step {counters['opt_step']} tokens {counters['tokens']} val_bpc={val_bpc(model, val_arr):.4f}")

    run_session("s2", model, opt, counters, total, train_msgs, val_arr, rng, total, accum, micro_bs)
    final = val_bpc(model, val_arr)
    print(f"#\tdone\tval_bpc={final:.3f}\tvs bigram {bi_bpc:.3f}\tvs unigram {uni_bpc:.3f}")
    model.eval()
    x = mx.array([[stoi["^"]] + [stoi[c] for c in "CQ CQ DE "]])
    for _ in range(14):
        nxt = mx.argmax(model(x)[:, -1], axis=-1)
        x = mx.concatenate([x, nxt[:, None]], axis=1)
    print("#\tgreedy\t" + "".join(ALPHA[i] if i < PAD else "_" for i in x[0].tolist()[1:]))


if __name__ == "__main__":
    main()
