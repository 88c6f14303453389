"""Orchard graft-log codes learned with ReMax (REINFORCE, greedy-rollout baseline).

A grafter writes a 5-digit log code for each (rootstock, season) pair.  The
code is never shown to the policy; it only gets a score per written code
(fraction of digits that match the orchard's convention).  ReMax (Li et al.
2023) uses the reward of the policy's own greedy code as the baseline, so the
advantage is r(sampled) - r(greedy); K codes are sampled per pair.
"""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

N_ROOT, N_SEASON, L, V = 10, 4, 5, 10
BOS = V
STEPS, BATCH, K, LR = 600, 48, 4, 1e-3
REPORT = {1, 2, 3, 200, 400, 600}

mx.random.seed(11)
rng = np.random.default_rng(11)


def convention(root, season):
    return (root[:, None] + (season[:, None] + 1) * mx.arange(L)[None, :]) % V


def reward(root, season, codes):
    return (codes == convention(root, season)).astype(mx.float32).mean(axis=1)


class GraftPolicy(nn.Module):
    """Next digit from (rootstock, season, previous digit, position)."""

    def __init__(self, dims=48):
        super().__init__()
        self.root = nn.Embedding(N_ROOT, dims)
        self.season = nn.Embedding(N_SEASON, dims)
        self.prev = nn.Embedding(V + 1, dims)
        self.pos = nn.Embedding(L, dims)
        self.mlp = nn.Sequential(nn.Linear(dims, 96), nn.ReLU(), nn.Linear(96, V))

    def __call__(self, root, season, prev, pos):
        h = self.root(root) + self.season(season) + self.prev(prev) + self.pos(pos)
        return self.mlp(h)


def rollout(policy, root, season, greedy):
    prev = mx.full(root.shape, BOS, dtype=mx.int32)
    out = []
    for t in range(L):
        logits = policy(root, season, prev, mx.full(root.shape, t, dtype=mx.int32))
        tok = mx.argmax(logits, axis=-1) if greedy else mx.random.categorical(logits)
        out.append(tok)
        prev = tok
    return mx.stack(out, axis=1)


def seq_logp(policy, root, season, codes):
    B = codes.shape[0]
    prev = mx.concatenate([mx.full((B, 1), BOS, dtype=codes.dtype), codes[:, :-1]], axis=1)
    pos = mx.broadcast_to(mx.arange(L)[None, :], (B, L))
    logits = policy(mx.broadcast_to(root[:, None], (B, L)),
                    mx.broadcast_to(season[:, None], (B, L)), prev, pos)
    lp = nn.log_softmax(logits, axis=-1)
    return mx.take_along_axis(lp, codes[..., None], axis=-1).squeeze(-1).sum(axis=1)


def remax_loss(policy, root, season, codes, adv):
    return -(adv * seq_logp(policy, root, season, codes)).mean()


def greedy_score(policy):
    r = mx.repeat(mx.arange(N_ROOT), N_SEASON)
    s = mx.tile(mx.arange(N_SEASON), N_ROOT)
    return reward(r, s, rollout(policy, r, s, greedy=True)).mean().item()


policy = GraftPolicy()
opt = optim.Adam(learning_rate=LR)
mx.eval(policy.parameters())
grad_fn = nn.value_and_grad(policy, remax_loss)

start_score = greedy_score(policy)
print(f"{N_ROOT * N_SEASON} (rootstock, season) pairs, codes of {L} digits; "
      f"chance per digit {1 / V:.2f}")
print(f"untrained greedy code score {start_score:.3f}")

for step in range(1, STEPS + 1):
    root = mx.repeat(mx.array(rng.integers(0, N_ROOT, BATCH)), K)
    season = mx.repeat(mx.array(rng.integers(0, N_SEASON, BATCH)), K)
    sampled = rollout(policy, root, season, greedy=False)
    greedy = rollout(policy, root, season, greedy=True)
    r_s = reward(root, season, sampled)
    r_g = reward(root, season, greedy)
    adv = mx.stop_gradient(r_s - r_g)
    loss, grads = grad_fn(policy, root, season, sampled, adv)
    opt.update(policy, grads)
    mx.eval(policy.parameters(), opt.state, loss)
    if step in REPORT:
        frac_zero = (adv == 0).astype(mx.float32).mean().item()
        print(f"step {step:3d}  surrogate {loss.item():+.4f}  r_sampled {r_s.mean().item():.3f}"
              f"  r_greedy {r_g.mean().item():.3f}  adv==0 {frac_zero:.2f}")

final = greedy_score(policy)
print(f"final greedy code score {final:.3f} (untrained {start_score:.3f}, chance {1 / V:.2f})")
