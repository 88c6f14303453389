"""Chain-notation molecule generator: GRU prior, then likelihood-anchored RL.

Stage 1 fits a GRU language model to a synthetic library of SMILES-like
strings (C/N/O atoms, branches in parentheses, one optional ring label).
Stage 2 copies the prior into an agent and trains it so that
log p_agent(x) moves towards log p_prior(x) + sigma * score(x), where the
score rewards syntactically sound strings with several heteroatoms.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

VOCAB = ["<pad>", "^", "$", "C", "N", "O", "(", ")", "1"]
STOI = {c: i for i, c in enumerate(VOCAB)}
PAD, BOS, EOS = 0, 1, 2
MAXLEN = 22

rng = np.random.default_rng(367)
mx.random.seed(367)


def atom():
    return str(rng.choice(["C", "N", "O"], p=[0.82, 0.12, 0.06]))


def chain(depth, n):
    out = []
    for _ in range(n):
        out.append(atom())
        if depth < 1 and rng.random() < 0.2:
            out.append("(" + "".join(chain(depth + 1, int(rng.integers(1, 3)))) + ")")
    return out


def make_string():
    while True:
        parts = chain(0, int(rng.integers(3, 8)))
        s = "".join(parts)
        if rng.random() < 0.3 and len(s) >= 4:
            j = int(rng.integers(3, len(s) + 1))
            # ring label right after two atoms
            atoms = [k for k, c in enumerate(s) if c in "CNO"]
            if len(atoms) >= 4:
                a, b = atoms[0], atoms[min(len(atoms) - 1, j)]
                s = s[: a + 1] + "1" + s[a + 1: b + 1] + "1" + s[b + 1:]
        if 3 <= len(s) <= MAXLEN - 2:
            return s


def well_formed(s):
    if not s or s[0] not in "CNO":
        return False
    depth = 0
    prev = ""
    for c in s:
        if c == "(":
            if prev not in "CNO1" or prev == "":
                return False
            depth += 1
        elif c == ")":
            if prev in "(" or depth == 0:
                return False
            depth -= 1
        elif c == "1":
            if prev not in "CNO":
                return False
        prev = c
    return depth == 0 and s.count("1") in (0, 2) and s[-1] not in "("


def score(s):
    if not well_formed(s):
        return 0.0
    het = s.count("N") + s.count("O")
    return min(1.0, het / 4.0)


def encode(strings):
    x = np.full((len(strings), MAXLEN), PAD, dtype=np.int32)
    for i, s in enumerate(strings):
        ids = [BOS] + [STOI[c] for c in s] + [EOS]
        x[i, : len(ids)] = ids
    return x


class GRULM(nn.Module):
    def __init__(self, emb=32, hid=96):
        super().__init__()
        self.emb = nn.Embedding(len(VOCAB), emb)
        self.rnn = nn.GRU(emb, hid)
        self.out = nn.Linear(hid, len(VOCAB))

    def __call__(self, x, h=None):
        hs = self.rnn(self.emb(x), h)
        return self.out(hs), hs[:, -1]


def seq_logp(model, x):
    logits, _ = model(x[:, :-1])
    tgt = x[:, 1:]
    lp = -nn.losses.cross_entropy(logits, tgt, reduction="none")
    mask = (tgt != PAD).astype(mx.float32)
    return (lp * mask).sum(axis=1), mask.sum(axis=1)


def mle_loss(model, x):
    lp, n = seq_logp(model, x)
    return -lp.sum() / n.sum()


def sample(model, n):
    tok = mx.full((n, 1), BOS, dtype=mx.int32)
    h = None
    toks = [tok]
    for _ in range(MAXLEN - 2):
        logits, h = model(tok, h)
        tok = mx.random.categorical(logits[:, -1])[:, None].astype(mx.int32)
        toks.append(tok)
    seq = np.array(mx.concatenate(toks, axis=1))
    strings = []
    for row in seq:
        s = ""
        for t in row[1:]:
            if t in (EOS, PAD, BOS):
                break
            s += VOCAB[t]
        strings.append(s)
    return strings


def summary(strings):
    sc = [score(s) for s in strings]
    ok = [well_formed(s) for s in strings]
    return 100 * np.mean(ok), float(np.mean(sc)), len(set(s for s, v in zip(strings, ok) if v))


def main():
    t0 = time.time()
    lib = [make_string() for _ in range(3000)]
    assert all(well_formed(s) for s in lib)
    X = encode(lib)
    lib_ok, lib_score, _ = summary(lib)
    rand = ["".join(rng.choice(list("CNO()1"), size=int(rng.integers(3, 12)))) for _ in range(500)]
    r_ok, r_score, _ = summary(rand)
    print(f"library: {len(lib)} strings, e.g. {lib[0]}  {lib[1]}  {lib[2]}")
    print(f"baselines: library score {lib_score:.3f} | random-token strings well-formed {r_ok:.1f}% score {r_score:.3f}")

    # ---- stage 1: prior ----
    steps1, warm = 280, 40
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, steps1 - warm, 3e-4)], [warm]
    )
    prior = GRULM()
    opt = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(prior, mle_loss)
    mx.eval(prior.parameters())
    print("stage 1  prior  (nll = nats/token)")
    run = []
    for step in range(1, steps1 + 1):
        idx = rng.integers(0, len(X), 64)
        lr_now = float(sched(opt.step).item())
        loss, g = vg(prior, mx.array(X[idx]))
        opt.update(prior, g)
        mx.eval(prior.parameters(), opt.state, loss)
        run.append(loss.item())
        if step == 1 or step % 70 == 0:
            ok, sc, uniq = summary(sample(prior, 100))
            print(f"  s1 {step:4d}  lr {lr_now:.2e}  nll {np.mean(run):.3f}  sampled ok {ok:5.1f}%  "
                  f"score {sc:.3f}  unique {uniq}")
            run = []

    # ---- stage 2: agent anchored to the frozen prior ----
    prior.freeze()
    agent = GRULM()
    agent.update(prior.parameters())
    agent.unfreeze()
    sigma = 24.0
    opt2 = optim.Adam(learning_rate=5e-4)

    def rl_loss(model, x, anchor):
        lp, _ = seq_logp(model, x)
        return mx.mean((anchor - lp) ** 2), lp

    vg2 = nn.value_and_grad(agent, rl_loss)
    steps2 = 70
    print(f"stage 2  agent  (sigma {sigma}; agent logp is negative, higher = more likely)")
    for step in range(1, steps2 + 1):
        strings = sample(agent, 64)
        x = mx.array(encode(strings))
        rewards = mx.array([score(s) for s in strings])
        prior_lp, _ = seq_logp(prior, x)
        anchor = mx.stop_gradient(prior_lp + sigma * rewards)
        (loss, lp), g = vg2(agent, x, anchor)
        opt2.update(agent, g)
        mx.eval(agent.parameters(), opt2.state, loss)
        if step == 1 or step % 10 == 0:
            ok = 100 * np.mean([well_formed(s) for s in strings])
            print(f"  s2 {step:4d}  loss {loss.item():8.2f}  agent logp {lp.mean().item():7.2f}  "
                  f"prior logp {prior_lp.mean().item():7.2f}  batch score {rewards.mean().item():.3f}  ok {ok:5.1f}%")

    ok_p, sc_p, u_p = summary(sample(prior, 300))
    ok_a, sc_a, u_a = summary(sample(agent, 300))
    moved = sum(float(mx.abs(a - b).max().item()) > 0 for (_, a), (_, b)
                in zip(tree_flatten(agent.parameters()), tree_flatten(prior.parameters())))
    print(f"final prior: ok {ok_p:.1f}%  score {sc_p:.3f}  unique {u_p}")
    print(f"final agent: ok {ok_a:.1f}%  score {sc_a:.3f}  unique {u_a}  (tensors moved from prior: {moved})")
    print(f"examples: {' '.join(sample(agent, 6))}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
