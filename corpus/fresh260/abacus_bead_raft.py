"""Abacus club: expert iteration (rejection-sampling fine-tuning) of a tiny GRU
language model that writes the two-digit sum of two single-digit addends."""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

PLUS, EQ, BOS = 10, 11, 12
VOCAB = 13
SAMPLES = 16         # draws per problem
PROBLEMS = 200       # fresh problems per round
ROUNDS = 7
INNER = 40           # SFT steps per round (counter restarts every round)
BATCH = 32


class BeadWriter(nn.Module):
    def __init__(self, dims=64):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, dims)
        self.rnn = nn.GRU(dims, dims)
        self.out = nn.Linear(dims, VOCAB)

    def __call__(self, x):
        return self.out(self.rnn(self.emb(x)))


def problems(n):
    a = mx.random.randint(0, 10, (n,))
    b = mx.random.randint(0, 10, (n,))
    ctx = mx.stack([mx.full((n,), BOS), a, mx.full((n,), PLUS), b, mx.full((n,), EQ)], axis=1)
    return ctx, (a + b).tolist()


def write(model, ctx, greedy=False, temp=1.0):
    x = ctx
    for _ in range(2):
        logits = model(x)[:, -1, :10]          # answers are digits
        nxt = mx.argmax(logits, -1) if greedy else mx.random.categorical(logits / temp)
        x = mx.concatenate([x, nxt[:, None]], axis=1)
    mx.eval(x)
    return x


def score(ans, target):
    """1.0 exact, 0.5 if only the units bead is right, 0 otherwise."""
    tens, units = ans
    if tens * 10 + units == target:
        return 1.0
    return 0.5 if units == target % 10 else 0.0


def sft_loss(model, seqs):
    logits = model(seqs[:, :-1])
    # train only on the two answer digits
    return nn.losses.cross_entropy(logits[:, -2:], seqs[:, -2:], reduction="mean")


def exam(model, n=300):
    ctx, tgt = problems(n)
    out = write(model, ctx, greedy=True)[:, -2:].tolist()
    return 100.0 * sum(score(o, t) == 1.0 for o, t in zip(out, tgt)) / n


def main():
    mx.random.seed(11)
    t0 = time.perf_counter()
    model = BeadWriter()
    mx.eval(model.parameters())
    step = nn.value_and_grad(model, sft_loss)
    bank = None
    print("| round | pass@1 sampled % | pass@16 % | bank | sft loss first -> last | exam % | lr peak | secs |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| 0 | - | - | - | - | {exam(model):.1f} | - | {time.perf_counter() - t0:.1f} |")
    for r in range(1, ROUNDS + 1):
        ctx, tgt = problems(PROBLEMS)
        rep = mx.repeat(ctx, SAMPLES, axis=0)
        seqs = write(model, rep)
        ans = seqs[:, -2:].tolist()
        tgts = [t for t in tgt for _ in range(SAMPLES)]
        rewards = [score(a, t) for a, t in zip(ans, tgts)]
        keep, solved = [], 0
        for p in range(PROBLEMS):
            grp = rewards[p * SAMPLES:(p + 1) * SAMPLES]
            best = max(range(SAMPLES), key=lambda j: grp[j])
            solved += grp[best] == 1.0
            if grp[best] == 1.0:
                keep.append(p * SAMPLES + best)
        pass1 = 100.0 * sum(x == 1.0 for x in rewards) / len(rewards)
        if keep:
            bank = seqs[mx.array(keep)] if bank is None else mx.concatenate([bank, seqs[mx.array(keep)]])
        kept = bank
        # warm restart each round: fresh optimizer, cosine from the peak down to 0
        peak = 3e-3
        opt = optim.Adam(learning_rate=optim.cosine_decay(peak, INNER, 0.0))
        first = last = None
        for i in range(INNER):
            idx = mx.random.randint(0, kept.shape[0], (BATCH,))
            loss, g = step(model, kept[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            if i == 0:
                first = loss.item()
            last = loss.item()
        print(f"| {r} | {pass1:.1f} | {100.0 * solved / PROBLEMS:.1f} | {kept.shape[0]} | "
              f"{first:.3f} -> {last:.3f} | {exam(model):.1f} | {peak:.0e} | {time.perf_counter() - t0:.1f} |",
              flush=True)
    print(f"\nfinal exam: {exam(model, 1000):.1f}% exact sums (chance about 1%)")


if __name__ == "__main__":
    main()
