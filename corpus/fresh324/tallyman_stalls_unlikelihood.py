"""Market tallyman route lists: a small causal language model over stall codes.

Each route visits a handful of the 24 market stalls, never the same stall twice,
and ends with an end-of-route token. Stage A fits the model by maximum likelihood;
stage B keeps the likelihood term and adds a token-level unlikelihood penalty
(Welleck et al., 2019) on stalls already visited earlier in the same route.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

PAD, BOS, EOS = 0, 1, 2
N_STALLS = 24
VOCAB = 3 + N_STALLS
MAX_LEN = 12  # BOS + up to 10 stalls + EOS

rng = np.random.default_rng(7)
mx.random.seed(7)

# made-up walking preferences between stalls (a ring market with some shortcuts)
pref = np.zeros((N_STALLS, N_STALLS))
for i in range(N_STALLS):
    for j in range(N_STALLS):
        d = min(abs(i - j), N_STALLS - abs(i - j))
        pref[i, j] = math.exp(-0.6 * d) + (0.8 if (i * 7 + j * 3) % 11 == 0 else 0.0)
np.fill_diagonal(pref, 0.0)


def sample_route():
    stall = rng.integers(N_STALLS)
    route = [stall]
    while len(route) < 10:
        p_stop = 0.04 + 0.06 * len(route)
        if len(route) >= 3 and rng.random() < p_stop:
            break
        w = pref[route[-1]].copy()
        w[route] = 0.0
        route.append(rng.choice(N_STALLS, p=w / w.sum()))
    return [BOS] + [3 + s for s in route] + [EOS]


def make_split(n):
    rows = [sample_route() for _ in range(n)]
    arr = np.full((n, MAX_LEN), PAD, dtype=np.int32)
    lens = np.zeros(n, dtype=np.int32)
    for k, r in enumerate(rows):
        arr[k, : len(r)] = r
        lens[k] = len(r)
    return arr, lens


train_x, train_len = make_split(6000)
valid_x, valid_len = make_split(800)
print(f"routes: train {len(train_x)}, valid {len(valid_x)}, vocab {VOCAB} (pad/bos/eos + {N_STALLS} stalls)")
print(f"mean stalls per route (data): {np.mean(train_len - 2):.2f}")


class RouteLM(nn.Module):
    """Causal model: last-token embedding plus a bag of everything seen so far."""

    def __init__(self, vocab, dim=32, hidden=96):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.seen_proj = nn.Linear(vocab, dim, bias=False)
        self.mlp = nn.Sequential(nn.Linear(2 * dim, hidden), nn.GELU(), nn.Linear(hidden, vocab))

    def __call__(self, x):
        onehot = (x[..., None] == mx.arange(self.embed.weight.shape[0])[None, None, :]).astype(mx.float32)
        seen = mx.minimum(mx.cumsum(onehot, axis=1), 1.0)
        h = mx.concatenate([self.embed(x), self.seen_proj(seen)], axis=-1)
        return self.mlp(h)


def seq_terms(model, batch, lens):
    inputs, targets = batch[:, :-1], batch[:, 1:]
    logits = model(inputs)
    steps = mx.arange(targets.shape[1])[None, :]
    valid = (steps < (lens[:, None] - 1)).astype(mx.float32)
    ntok = valid.sum()
    nll = nn.losses.cross_entropy(logits, targets, reduction="none")
    nll = (nll * valid).sum() / ntok

    # negative candidates: stalls already seen earlier in the route, except the true next token
    onehot = (inputs[..., None] == mx.arange(VOCAB)[None, None, :]).astype(mx.float32)
    seen = (mx.cumsum(onehot, axis=1) > 0).astype(mx.float32)
    is_stall = (mx.arange(VOCAB) >= 3).astype(mx.float32)[None, None, :]
    tgt_onehot = (targets[..., None] == mx.arange(VOCAB)[None, None, :]).astype(mx.float32)
    cand = seen * is_stall * (1.0 - tgt_onehot)
    probs = mx.softmax(logits, axis=-1)
    ul = -mx.log(mx.clip(1.0 - probs, 1e-5, 1.0)) * cand
    ul = (ul.sum(axis=-1) * valid).sum() / ntok
    return nll, ul


def make_loss(alpha):
    def loss_fn(model, batch, lens):
        nll, ul = seq_terms(model, batch, lens)
        return nll + alpha * ul, (nll, ul)

    return loss_fn


def evaluate(model):
    nll, ul = seq_terms(model, mx.array(valid_x), mx.array(valid_len))
    return nll.item(), ul.item()


def sample_routes(model, n=400, temp=1.0):
    # start from BOS + a random first stall, then sample up to MAX_LEN tokens
    first = rng.integers(N_STALLS, size=n) + 3
    seqs = np.stack([np.full(n, BOS), first], axis=1).astype(np.int32)
    done = np.zeros(n, dtype=bool)
    for _ in range(MAX_LEN - 2):
        logits = model(mx.array(seqs))[:, -1, :] / temp
        nxt = np.array(mx.random.categorical(logits))
        nxt[done] = PAD
        done |= nxt == EOS
        seqs = np.concatenate([seqs, nxt[:, None].astype(np.int32)], axis=1)
    repeats, ended, lengths = 0, 0, []
    for row in seqs:
        stalls = []
        for t in row[1:]:
            if t == EOS:
                ended += 1
                break
            if t >= 3:
                stalls.append(int(t))
        lengths.append(len(stalls))
        repeats += len(stalls) != len(set(stalls))
    return repeats / n, ended / n, float(np.mean(lengths))


# baselines: unigram over the next token, and uniform choice among unused stalls (plus EOS)
uni = np.bincount(train_x[:, 1:][train_x[:, 1:] != PAD], minlength=VOCAB).astype(np.float64)
uni = uni / uni.sum()
vt = valid_x[:, 1:]
vmask = np.arange(vt.shape[1])[None, :] < (valid_len[:, None] - 1)
unigram_nll = float(-np.log(uni[vt[vmask]] + 1e-12).mean())
print(f"baseline valid NLL: uniform {math.log(VOCAB):.3f}  unigram {unigram_nll:.3f}")

model = RouteLM(VOCAB)
mx.eval(model.parameters())
n_params = sum(v.size for _, v in nn.utils.tree_flatten(model.parameters()))
print(f"parameters: {n_params}")

BATCH = 64


def run_stage(name, steps, warmup, peak_lr, alpha):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak_lr, warmup), optim.cosine_decay(peak_lr, steps - warmup, 0.1 * peak_lr)],
        [warmup],
    )
    opt = optim.Adam(learning_rate=sched)
    loss_and_grad = nn.value_and_grad(model, make_loss(alpha))
    print(f"--- stage {name}: {steps} steps, alpha {alpha}, warmup {warmup} from lr 0 ---")
    t0 = time.time()
    for step in range(steps):
        idx = rng.integers(0, len(train_x), size=BATCH)
        lr_now = opt.learning_rate.item()
        (loss, (nll, ul)), grads = loss_and_grad(model, mx.array(train_x[idx]), mx.array(train_len[idx]))
        grads, gnorm = optim.clip_grad_norm(grads, 1.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 50 == 0 or step == steps - 1:
            print(
                f"[{name}] step {step:4d}  lr {lr_now:.6f}  loss {loss.item():.4f}  "
                f"nll {nll.item():.4f}  ul {ul.item():.4f}  gnorm {gnorm.item():.3f}"
            )
    vnll, vul = evaluate(model)
    rep, ended, mlen = sample_routes(model)
    print(
        f"[{name}] valid nll {vnll:.4f}  valid ul {vul:.4f}  | sampled routes: repeat rate {rep:.3f}  "
        f"ended {ended:.3f}  mean stalls {mlen:.2f}  ({time.time() - t0:.1f}s)"
    )
    return vnll, rep


rep0, end0, len0 = sample_routes(model)
print(f"untrained sampled routes: repeat rate {rep0:.3f}  ended {end0:.3f}  mean stalls {len0:.2f}")
nll_a, rep_a = run_stage("A-mle", 500, 50, 3e-3, 0.0)
nll_b, rep_b = run_stage("B-mle+ul", 250, 25, 1e-3, 0.5)

print("=== summary ===")
print(f"valid NLL: unigram {unigram_nll:.3f} | after A {nll_a:.3f} | after B {nll_b:.3f}")
print(f"repeat rate in sampled routes: untrained {rep0:.3f} | after A {rep_a:.3f} | after B {rep_b:.3f}")
assert nll_a < unigram_nll - 0.3, "stage A did not beat the unigram baseline"
assert nll_b < nll_a + 0.05, "stage B lost too much likelihood"
assert rep_b <= rep_a + 0.02, "unlikelihood stage did not keep repeats down"
print("done")
