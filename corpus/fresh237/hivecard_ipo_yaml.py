import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

VOCAB = 20
PAD = 0
BOS = 1
TAU = 0.25
MICRO = 12
ACCUM = 2
STEPS = 150
EVAL_EVERY = 50

random.seed(21)
mx.random.seed(21)


def inspection(rng):
    frames = [rng.randrange(2, VOCAB) for _ in range(rng.randint(4, 7))]
    key = max(frames)
    good = [key, 2 + (key - 2 + 1) % (VOCAB - 2)]
    bad = [min(frames), 2 + (min(frames) - 2 + 1) % (VOCAB - 2)]
    return frames, good, bad


class CausalConvLM(nn.Module):
    def __init__(self, vocab=VOCAB, dim=32, kernel=3, layers=3):
        super().__init__()
        self.kernel = kernel
        self.emb = nn.Embedding(vocab, dim)
        self.convs = [nn.Conv1d(dim, dim, kernel) for _ in range(layers)]
        self.gate = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, vocab)

    def __call__(self, ids):
        x = self.emb(ids)
        for conv in self.convs:
            h = mx.pad(x, [(0, 0), (self.kernel - 1, 0), (0, 0)])
            x = x + nn.silu(conv(h))
        g = self.gate(x)
        counts = mx.arange(1, g.shape[1] + 1, dtype=g.dtype)[None, :, None]
        run_mean = mx.cumsum(g, axis=1) / counts
        return self.out(x + run_mean)


def encode(pairs):
    width = max(1 + len(f) + len(c) for f, c in pairs)
    seqs, st, en = [], [], []
    for f, c in pairs:
        s = [BOS] + f + c
        seqs.append(s + [PAD] * (width - len(s)))
        st.append(1 + len(f))
        en.append(len(s))
    return mx.array(seqs, dtype=mx.int32), mx.array(st), mx.array(en)


def seq_logp(model, seqs, st, en):
    lg = nn.log_softmax(model(seqs[:, :-1]), axis=-1)
    tg = seqs[:, 1:]
    lp = mx.take_along_axis(lg, tg[..., None], axis=-1).squeeze(-1)
    pos = mx.arange(tg.shape[1])[None, :] + 1
    return (lp * ((pos >= st[:, None]) & (pos < en[:, None]))).sum(-1)


def stack_pairs(rows):
    return encode([(f, g) for f, g, _ in rows] + [(f, b) for f, _, b in rows])


def ipo_loss(model, enc, ref):
    lp = seq_logp(model, *enc)
    n = lp.shape[0] // 2
    h = (lp[:n] - ref[:n]) - (lp[n:] - ref[n:])
    return ((h - 1.0 / (2 * TAU)) ** 2).mean(), h


def main():
    rng = random.Random(8)
    sft_rows = [inspection(rng) for _ in range(900)]
    pref_rows = [inspection(rng) for _ in range(720)]
    held = [inspection(rng) for _ in range(120)]

    model = CausalConvLM()
    sft_opt = optim.Adam(learning_rate=3e-3)
    nll = nn.value_and_grad(model, lambda m, s, a, b: -seq_logp(m, s, a, b).mean())
    for i in range(80):
        batch = rng.sample(sft_rows, 24)
        pairs = [(f, g if rng.random() < 0.6 else b) for f, g, b in batch]
        l, g = nll(model, *encode(pairs))
        sft_opt.update(model, g)
        mx.eval(model.parameters(), sft_opt.state)
    print("---")
    print("stage: sft")
    print(f"final_nll_nats: {l.item():.3f}")

    ref_train = [seq_logp(model, *stack_pairs(pref_rows[i : i + MICRO])) for i in range(0, len(pref_rows), MICRO)]
    held_enc = stack_pairs(held)
    ref_held = seq_logp(model, *held_enc)
    mx.eval(ref_train, ref_held)
    ref_acc = 0.0
    print(f"reference_cache_batches: {len(ref_train)}")

    opt = optim.SGD(learning_rate=optim.step_decay(0.01, 0.5, 60), momentum=0.9)
    grad_fn = nn.value_and_grad(model, ipo_loss)
    target = 1.0 / (2 * TAU)

    def held_metrics():
        loss, h = ipo_loss(model, held_enc, ref_held)
        lp = seq_logp(model, *held_enc)
        n = lp.shape[0] // 2
        acc = (lp[:n] > lp[n:]).astype(mx.float32).mean()
        return loss.item(), h.mean().item(), acc.item()

    l0, h0, a0 = held_metrics()
    print("---")
    print("stage: ipo")
    print("step: 0")
    print(f"held_ipo_loss: {l0:.4f}")
    print(f"held_margin: {h0:+.3f}")
    print(f"held_margin_target: {target:.3f}")
    print(f"held_good_over_bad: {a0:.3f}")

    order = list(range(len(ref_train)))
    cursor = len(order)
    for step in range(1, STEPS + 1):
        acc_grads = None
        for _ in range(ACCUM):
            if cursor >= len(order):
                rng.shuffle(order)
                cursor = 0
            j = order[cursor]
            cursor += 1
            enc = stack_pairs(pref_rows[j * MICRO : (j + 1) * MICRO])
            (loss, h), g = grad_fn(model, enc, ref_train[j])
            acc_grads = g if acc_grads is None else tree_map(lambda a, b: a + b, acc_grads, g)
        acc_grads, gnorm = optim.clip_grad_norm(tree_map(lambda a: a / ACCUM, acc_grads), 1.0)
        opt.update(model, acc_grads)
        mx.eval(model.parameters(), opt.state)
        if step % EVAL_EVERY == 0:
            lv, hv, av = held_metrics()
            print("---")
            print("stage: ipo")
            print(f"step: {step}")
            print(f"lr: {opt.learning_rate.item():.4f}")
            print(f"last_micro_loss: {loss.item():.4f}")
            print(f"pre_clip_grad_norm: {gnorm.item():.3f}")
            print(f"held_ipo_loss: {lv:.4f}")
            print(f"held_margin: {hv:+.3f}")
            print(f"held_margin_target: {target:.3f}")
            print(f"held_good_over_bad: {av:.3f}")
            print(f"held_good_over_bad_at_step0: {a0:.3f}")
    print("...")


if __name__ == "__main__":
    main()
