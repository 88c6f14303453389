"""Two-stage preference tuning of a tiny GRU language model.

Stage 1 (sft): next-token training on all sequences, both sides of each pair.
  The stage-1 weights are saved to disk and read back into a fresh model.
Stage 2 (simpo): reference-free preference optimisation with a
  length-normalised log-prob margin and a target gap gamma.

Every sequence steps upward by +1 or +2 (mod 10) at random; of each pair
the one with more +2 steps is preferred, so stage 1 alone is indifferent. Each stage warms its learning rate
up from 0. Output: tab-separated rows.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

VOCAB = 10
LEN = 12
rng = np.random.default_rng(2024)


def walk(p_two):
    start = rng.integers(0, VOCAB)
    steps = np.where(rng.random(LEN - 1) < p_two, 2, 1)
    return np.concatenate([[start], (start + np.cumsum(steps)) % VOCAB]), steps


def make_pair():
    a, sa = walk(0.5)
    b, sb = walk(0.5)
    while (sa == 2).sum() == (sb == 2).sum():
        b, sb = walk(0.5)
    if (sa == 2).sum() > (sb == 2).sum():
        return a, b, 0
    return b, a, 0


def make_set(n):
    g, b, ks = zip(*[make_pair() for _ in range(n)])
    return np.stack(g).astype(np.int32), np.stack(b).astype(np.int32), np.array(ks)


class TinyLM(nn.Module):
    """Predicts the next token from the last two tokens (bigram-of-bigrams MLP)."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB + 1, 16)
        self.mlp = nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, VOCAB))

    def __call__(self, x):
        prev = mx.concatenate([mx.full((x.shape[0], 1), VOCAB, dtype=x.dtype), x[:, :-1]], axis=1)
        h = mx.concatenate([self.embed(prev), self.embed(x)], axis=-1)
        return self.mlp(h)


def avg_logp(model, seqs):
    logits = model(seqs[:, :-1])
    logp = nn.log_softmax(logits, axis=-1)
    tok = mx.take_along_axis(logp, seqs[:, 1:, None], axis=-1).squeeze(-1)
    return tok.mean(axis=1)


def sft_loss(model, good):
    return -avg_logp(model, good).mean()


BETA, GAMMA = 2.0, 0.5


def simpo_loss(model, good, bad):
    lg = avg_logp(model, good)
    lb = avg_logp(model, bad)
    margin = BETA * (lg - lb) - GAMMA
    return -nn.log_sigmoid(margin).mean(), (lg, lb)


def pref_acc(model, good, bad):
    return (avg_logp(model, good) > avg_logp(model, bad)).astype(mx.float32).mean().item()


def warm_cos(peak, warm, total):
    return optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, total - warm, peak * 0.05)],
        [warm],
    )


def run_stage(name, model, loss_fn, peak, steps, warm, data, val, bs=64):
    opt = optim.AdamW(learning_rate=warm_cos(peak, warm, steps), weight_decay=0.0)
    vg = nn.value_and_grad(model, loss_fn)
    good, bad = data
    vgood, vbad = val
    n = good.shape[0]
    for step in range(steps + 1):
        idx = mx.array(rng.integers(0, n, size=bs))
        if name == "sft":
            loss, grads = vg(model, good[idx])
            extra = ""
        else:
            (loss, (lg, lb)), grads = vg(model, good[idx], bad[idx])
            extra = f"{lg.mean().item():.3f}\t{lb.mean().item():.3f}"
        lr = opt.learning_rate.item()
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 50 == 0:
            acc = pref_acc(model, vgood, vbad)
            vnll = sft_loss(model, vgood).item()
            if not extra:
                extra = "-\t-"
            print(f"{name}\t{step}\t{lr:.2e}\t{loss.item():.4f}\t{extra}\t{vnll:.4f}\t{acc:.3f}")


def main():
    mx.random.seed(5)
    tg, tb, _ = make_set(3000)
    vg_, vb_, _ = make_set(500)
    data = (mx.array(tg), mx.array(tb))
    val = (mx.array(vg_), mx.array(vb_))

    model = TinyLM()
    mx.eval(model.parameters())
    print(f"# pairs train={tg.shape[0]} val={vg_.shape[0]} len={LEN} vocab={VOCAB}")
    print(f"# uniform-model val nll = {np.log(VOCAB):.4f}, untrained val pref acc = {pref_acc(model, *val):.3f}")
    print("stage\tstep\tlr\tloss\tlogp_chosen\tlogp_rejected\tval_nll_chosen\tval_pref_acc")

    t0 = time.time()
    both = mx.concatenate(data, axis=0)
    run_stage("sft", model, sft_loss, 3e-3, 300, 40, (both, both), val)
    sft_acc = pref_acc(model, *val)

    ckpt = os.path.join(tempfile.mkdtemp(), "sft_stage.safetensors")
    model.save_weights(ckpt)
    model = TinyLM()
    model.load_weights(ckpt)
    mx.eval(model.parameters())
    print(f"# reloaded {os.path.basename(ckpt)}: val pref acc {pref_acc(model, *val):.3f} (same as end of sft)")

    run_stage("simpo", model, simpo_loss, 2e-4, 300, 30, data, val)
    final_acc = pref_acc(model, *val)
    print(f"# val pref acc: coin flip 0.5 | after sft {sft_acc:.3f} | after simpo {final_acc:.3f}")
    print(f"# wall {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
