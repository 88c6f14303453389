# Group-relative policy optimisation on a toy "reuse the prompt digits" task.
# Prompts have mixed lengths; responses stop at EOS, so episodes are packed
# into right-padded [N, L] rows plus a flat logprob vector before each update.
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

PAD, EOS = 0, 1
VOCAB = 10
MAX_POS = 16
N_PROMPTS = 12
GROUP = 4
ITERS = 50
CLIP = 0.2

mx.random.seed(3)
rng = np.random.default_rng(3)


class TinyPolicy(nn.Module):
    def __init__(self, dims=48, heads=4):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, dims)
        self.pos = nn.Embedding(MAX_POS, dims)
        self.block = nn.TransformerEncoderLayer(dims, heads, mlp_dims=2 * dims)
        self.norm = nn.LayerNorm(dims)
        self.head = nn.Linear(dims, VOCAB)

    def __call__(self, x):
        T = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        h = self.block(h, mask)
        return self.head(self.norm(h))


@dataclass
class Episode:
    obs: Any
    act: List[Any] = field(default_factory=list)
    rew: List[float] = field(default_factory=list)
    logprob: List[Any] = field(default_factory=list)


# --- Episode Packing Helper ---
def _flatten_tokens(items: List[Any]) -> List:
    """Flatten nested token sequences into a flat list."""
    if items is None:
        return []

    # Allow passing a bare array/scalar as a single token container.
    if hasattr(items, 'tolist'):
        values = items.tolist()
        return values if isinstance(values, list) else [values]

    if not isinstance(items, list):
        return [items]

    flattened = []
    for item in items:
        if hasattr(item, 'tolist'):  # MLX array
            values = item.tolist()
            if isinstance(values, list):
                flattened.extend(values)
            else:
                flattened.append(values)
        elif isinstance(item, list):  # Python list
            flattened.extend(item)
        else:  # Single token
            flattened.append(item)
    return flattened


def pack_episodes(episodes: List[Episode]) -> Dict[str, Any]:
    prompt_lengths, episode_lengths, rows, flat_lp, rewards = [], [], [], [], []
    for ep in episodes:
        o = _flatten_tokens(ep.obs)
        a = _flatten_tokens(ep.act)
        prompt_lengths.append(len(o))
        episode_lengths.append(len(a))
        rows.append(o + a)
        flat_lp.extend(_flatten_tokens(ep.logprob))
        rewards.append(float(sum(ep.rew)))
    L = max(len(r) for r in rows)
    obs = np.full((len(rows), L), PAD, dtype=np.int32)
    for i, r in enumerate(rows):
        obs[i, : len(r)] = r
    return {
        "obs": mx.array(obs),
        "logprob": mx.array(flat_lp, dtype=mx.float32),
        "rewards": mx.array(rewards),
        "episode_lengths": episode_lengths,
        "prompt_lengths": prompt_lengths,
    }


def make_prompt():
    n = int(rng.integers(2, 7))
    return rng.integers(2, VOCAB, size=n).astype(np.int32)


def rollout(model, prompt):
    """Sample GROUP responses for one prompt, at most len(prompt) tokens each."""
    n = len(prompt)
    seqs = mx.broadcast_to(mx.array(prompt)[None], (GROUP, n))
    eps = [Episode(obs=mx.array(prompt)) for _ in range(GROUP)]
    alive = [True] * GROUP
    for _ in range(n):
        logits = model(seqs)[:, -1, :]
        logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
        tok = mx.random.categorical(logits)
        lp = mx.take_along_axis(logp, tok[:, None], axis=-1)[:, 0]
        mx.eval(tok, lp)
        for j in range(GROUP):
            if alive[j]:
                eps[j].act.append(tok[j])
                eps[j].logprob.append(lp[j])
                if tok[j].item() == EOS:
                    alive[j] = False
        seqs = mx.concatenate([seqs, tok[:, None]], axis=1)
        if not any(alive):
            break
    seen = set(int(t) for t in prompt)
    for ep in eps:
        toks = [t.item() for t in ep.act]
        hits = sum(1 for t in toks if t in seen)
        ep.rew.append(hits / n)
    return eps


def gather_index(batch):
    rows, cols = [], []
    T = batch["obs"].shape[1] - 1
    for i, (p, r) in enumerate(zip(batch["prompt_lengths"], batch["episode_lengths"])):
        for k in range(r):
            rows.append(i)
            cols.append(p - 1 + k)
    return mx.array(np.array(rows) * T + np.array(cols), dtype=mx.int32), mx.array(rows, dtype=mx.int32)


def loss_fn(model, obs, idx, row_of, old_lp, adv_tok):
    logits = model(obs[:, :-1])
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    tgt = mx.take_along_axis(logp, obs[:, 1:, None], axis=-1)[..., 0]
    new_lp = mx.take(tgt.reshape(-1), idx)
    ratio = mx.exp(new_lp - old_lp)
    clipped = mx.clip(ratio, 1 - CLIP, 1 + CLIP)
    return -mx.mean(mx.minimum(ratio * adv_tok, clipped * adv_tok))


model = TinyPolicy()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)
step = nn.value_and_grad(model, loss_fn)

hist = []
t0 = time.time()
for it in range(1, ITERS + 1):
    episodes = []
    for _ in range(N_PROMPTS):
        episodes.extend(rollout(model, make_prompt()))
    batch = pack_episodes(episodes)
    r = np.array(batch["rewards"])
    g = r.reshape(N_PROMPTS, GROUP)
    adv = ((g - g.mean(1, keepdims=True)) / (g.std(1, keepdims=True) + 1e-4)).reshape(-1)
    idx, row_of = gather_index(batch)
    adv_tok = mx.take(mx.array(adv, dtype=mx.float32), row_of)
    for _ in range(2):
        loss, grads = step(model, batch["obs"], idx, row_of, batch["logprob"], adv_tok)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
    hist.append(r.mean())
    if it % 5 == 0 or it == 1:
        mean_len = np.mean(batch["episode_lengths"])
        print(f"iter {it:3d}  reward {r.mean():.3f}  avg5 {np.mean(hist[-5:]):.3f}  loss {loss.item():+.4f}  "
              f"resp_len {mean_len:.2f}  tokens {int(idx.shape[0])}")

print(f"final mean reward (last 5) {np.mean(hist[-5:]):.3f}  ({time.time() - t0:.1f}s)")
