"""Audio-guide caption tuner: reward-weighted regression on a tiny token policy.

Prompts are two "exhibit" tokens (a, b); a caption is 5 tokens. A curator
score (hidden rule + small noise) rates each caption. Stage 0 imitates weak
volunteer captions, then each round samples captions, weights them by a
per-prompt softmax of their scores, and fits the weighted log-likelihood.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

V, L = 10, 5
rng = np.random.default_rng(7)
mx.random.seed(7)


def curator_score(prompts, caps, noise=True):
    a, b = prompts[:, :1], prompts[:, 1:2]
    t = np.arange(L)[None, :]
    target = (a + t * b) % V
    s = (caps == target).mean(axis=1)
    if noise:
        s = s + rng.normal(0, 0.05, size=s.shape)
    return s


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(V + 1, 16)   # V = start symbol
        self.pos = nn.Embedding(L, 8)
        self.body = nn.Sequential(nn.Linear(16 * 3 + 8, 128), nn.SiLU(),
                                  nn.Linear(128, 64), nn.SiLU())
        self.head = nn.Linear(64, V)

    def __call__(self, prompts, prev):
        # prompts [B,2], prev [B,L] (shifted caption, start symbol first)
        B = prompts.shape[0]
        pe = self.tok(prompts).reshape(B, 1, 32)
        pe = mx.broadcast_to(pe, (B, L, 32))
        x = mx.concatenate([pe, self.tok(prev),
                            mx.broadcast_to(self.pos(mx.arange(L))[None], (B, L, 8))], axis=-1)
        return self.head(self.body(x))


def shift(caps):
    start = np.full((caps.shape[0], 1), V, dtype=np.int32)
    return np.concatenate([start, caps[:, :-1]], axis=1).astype(np.int32)


def token_logp(model, prompts, caps):
    logits = model(mx.array(prompts), mx.array(shift(caps)))
    lp = nn.log_softmax(logits, axis=-1)
    return mx.take_along_axis(lp, mx.array(caps)[..., None], axis=-1)[..., 0]


def sample(model, prompts, temp=1.0, greedy=False):
    B = prompts.shape[0]
    caps = np.zeros((B, L), dtype=np.int32)
    for t in range(L):
        logits = model(mx.array(prompts), mx.array(shift(caps)))[:, t, :]
        if greedy:
            nxt = mx.argmax(logits, axis=-1)
        else:
            nxt = mx.random.categorical(logits / temp)
        caps[:, t] = np.array(nxt)
    return caps


def mean_kl(model, ref, prompts):
    caps = sample(model, prompts)
    lp = nn.log_softmax(model(mx.array(prompts), mx.array(shift(caps))), axis=-1)
    lq = nn.log_softmax(ref(mx.array(prompts), mx.array(shift(caps))), axis=-1)
    return (mx.exp(lp) * (lp - lq)).sum(-1).mean().item()


def entropy(model, prompts):
    caps = sample(model, prompts)
    lp = nn.log_softmax(model(mx.array(prompts), mx.array(shift(caps))), axis=-1)
    return (-(mx.exp(lp) * lp).sum(-1)).mean().item()


def rand_prompts(n):
    return np.stack([rng.integers(0, V, n), rng.integers(1, V, n)], axis=1).astype(np.int32)


held = rand_prompts(256)
policy = Policy()
mx.eval(policy.parameters())

# ---- stage 0: imitate weak volunteer captions ----
def volunteer(prompts):
    a, b = prompts[:, :1], prompts[:, 1:2]
    target = (a + np.arange(L)[None] * b) % V
    noise = rng.integers(0, V, target.shape)
    keep = rng.random(target.shape) < 0.35
    return np.where(keep, target, noise).astype(np.int32)


def nll_fn(model, prompts, caps, w):
    lp = token_logp(model, prompts, caps).sum(axis=1)
    return -(w * lp).sum() / w.sum()


grad_nll = nn.value_and_grad(policy, nll_fn)
t0 = time.time()
opt = optim.Adam(learning_rate=3e-3)
print("[stage 0: volunteer imitation]")
print(f"uniform_score = {curator_score(held, rng.integers(0, V, (256, L)), noise=False).mean():.3f}")
for step in range(1, 151):
    p = rand_prompts(128)
    c = volunteer(p)
    loss, g = grad_nll(policy, p, c, mx.ones((128,)))
    opt.update(policy, g)
    mx.eval(policy.parameters(), opt.state, loss)
    if step % 75 == 0:
        print(f"upd {step:03d}: nll {loss.item():.3f}")
greedy0 = curator_score(held, sample(policy, held, greedy=True), noise=False).mean()
print(f"greedy_score = {greedy0:.3f}")

ref = Policy()
ref.update(policy.parameters())
ref.freeze()
mx.eval(ref.parameters())

# ---- RWR rounds ----
ROUNDS, N, P, UPD, TAU = 5, 12, 128, 45, 0.1
for rnd in range(1, ROUNDS + 1):
    prompts = rand_prompts(P)
    rep = np.repeat(prompts, N, axis=0)
    caps = sample(policy, rep)
    score = curator_score(rep, caps)
    grp = score.reshape(P, N)
    w = np.exp((grp - grp.max(1, keepdims=True)) / TAU)
    w = (w / w.sum(1, keepdims=True)).reshape(-1).astype(np.float32)
    sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 10),
                                  optim.cosine_decay(2e-3, UPD - 10, 2e-4)], [10])
    opt = optim.Adam(learning_rate=sched)
    print(f"\n[round {rnd}]")
    print(f"sampled_score = {score.mean():.3f}  best_of_{N} = {grp.max(1).mean():.3f}")
    for u in range(1, UPD + 1):
        idx = rng.choice(P * N, 256, replace=False)
        loss, g = grad_nll(policy, rep[idx], caps[idx], mx.array(w[idx]))
        if rnd == 1 and u == 1:
            norms = [float(mx.abs(v).max()) for _, v in nn.utils.tree_flatten(g)]
            print(f"first_update: lr {opt.learning_rate.item():.1e}, leaves {len(norms)}, "
                  f"nonzero {sum(n > 0 for n in norms)}")
        opt.update(policy, g)
        mx.eval(policy.parameters(), opt.state, loss)
        if u % 15 == 0:
            print(f"upd {u:03d}: wnll {loss.item():.3f}  lr {opt.learning_rate.item():.1e}")
    gs = curator_score(held, sample(policy, held, greedy=True), noise=False).mean()
    print(f"greedy_score = {gs:.3f}  kl_to_stage0 = {mean_kl(policy, ref, held):.3f}  "
          f"entropy = {entropy(policy, held):.3f}")

print(f"\n[done] greedy {greedy0:.3f} -> {gs:.3f}, secs {time.time() - t0:.1f}")
