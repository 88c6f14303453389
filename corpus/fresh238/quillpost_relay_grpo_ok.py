"""Group-relative policy optimisation on a toy key->token relay task.

A tiny causal policy reads a prompt ending in a key token and must answer
with the matching relay token, repeated until the response budget is used.
Episodes are packed into padded 2D batches and log-probs are recomputed in a
single batched forward pass, as in textpolicy's GRPO trainer.
"""
import time
from dataclasses import dataclass
from typing import Any, Dict, List

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

EOS, BOS = 0, 1
KEYS = [2, 3, 4, 5]
RELAY = {2: 6, 3: 7, 4: 8, 5: 9}
FILLER = [10, 11]
VOCAB = 12
MAX_RESP = 6
PROMPTS_PER_STEP = 4
GROUP = 8
STEPS = 300
MIN_TOKENS_STEPS = 40


class RelayPolicy(nn.Module):
    def __init__(self, vocab, dim=32, max_len=16):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(max_len, dim)
        self.body = nn.Sequential(nn.Linear(dim, 64), nn.GELU(), nn.Linear(64, dim))
        self.head = nn.Linear(dim, vocab)

    def __call__(self, x):
        h = self.tok(x) + self.pos(mx.arange(x.shape[1]))
        h = h + self.body(h)
        return self.head(h)


@dataclass
class Episode:
    obs: List[int]
    act: List[int]
    rew: List[float]
    logprob: List[float]


def _flatten_tokens(tokens):
    return [int(t) for t in tokens]


def _pack_episodes(episodes: List[Any]) -> Dict[str, Any]:
    episode_lengths = []
    prompt_lengths = []
    all_obs = []
    all_acts = []
    all_logprobs = []
    pending_reward_sums = []

    for i, episode in enumerate(episodes):
        pending_reward_sums.append((i, mx.sum(mx.array(episode.rew))))
        flattened_obs = _flatten_tokens(episode.obs)
        flattened_acts = _flatten_tokens(episode.act)
        episode_lengths.append(len(flattened_acts))
        prompt_lengths.append(len(flattened_obs))
        full_sequence = flattened_obs + flattened_acts
        all_obs.append(full_sequence)
        all_acts.append(flattened_acts)
        all_logprobs.append(episode.logprob if episode.logprob is not None else [])

    episode_rewards = [0.0] * len(episodes)
    indices, lazy_sums = zip(*pending_reward_sums)
    stacked = mx.stack(list(lazy_sums))
    mx.eval(stacked)
    for idx, val in zip(indices, stacked.tolist()):
        episode_rewards[idx] = float(val)

    max_obs_len = max(len(obs) for obs in all_obs) if all_obs else 0
    max_act_len = max(len(act) for act in all_acts) if all_acts else 0

    # Convert to MLX arrays with padding
    all_obs_mx = [mx.array(obs, dtype=mx.int64) if obs else mx.zeros(0, dtype=mx.int64) for obs in all_obs]
    all_acts_mx = [mx.array(act, dtype=mx.int64) if act else mx.zeros(0, dtype=mx.int64) for act in all_acts]

    # Pad and stack to 2D: [N, max_len]
    if max_obs_len > 0:
        padded_obs = [mx.pad(obs, (0, max_obs_len - obs.shape[0]), constant_values=0)
                      if obs.shape[0] < max_obs_len else obs[:max_obs_len]
                      for obs in all_obs_mx]
        stacked_obs = mx.stack(padded_obs)
    else:
        stacked_obs = mx.array([], dtype=mx.int64)

    if max_act_len > 0:
        padded_acts = [mx.pad(act, (0, max_act_len - act.shape[0]), constant_values=0)
                       if act.shape[0] < max_act_len else act[:max_act_len]
                       for act in all_acts_mx]
        stacked_acts = mx.stack(padded_acts)
    else:
        stacked_acts = mx.array([], dtype=mx.int64)

    all_logprobs_mx = [mx.array(lp, dtype=mx.float32) if lp else mx.array([], dtype=mx.float32) for lp in all_logprobs]
    non_empty_logprobs = [lp for lp in all_logprobs_mx if lp.size > 0]
    flat_logprobs = mx.concatenate(non_empty_logprobs) if non_empty_logprobs else mx.array([], dtype=mx.float32)

    return {
        'obs': stacked_obs,
        'act': stacked_acts,
        'logprob': flat_logprobs,
        'rewards': mx.array(episode_rewards),
        'episode_lengths': episode_lengths,
        'prompt_lengths': prompt_lengths,
    }


def compute_logprobs_batched(model, full_sequences, response_tokens, prompt_lengths, response_lengths):
    n_episodes = full_sequences.shape[0]
    if n_episodes == 0:
        return mx.array([], dtype=mx.float32)
    logits = model(full_sequences)
    per_episode = []
    for i in range(n_episodes):
        p_len = prompt_lengths[i]
        r_len = response_lengths[i]
        if r_len == 0:
            continue
        prediction_logits = logits[i, p_len - 1: p_len - 1 + r_len, :]
        log_probs = prediction_logits - mx.logsumexp(prediction_logits, axis=-1, keepdims=True)
        selected = log_probs[mx.arange(r_len), response_tokens[i, :r_len]]
        per_episode.append(selected)
    if not per_episode:
        return mx.array([], dtype=mx.float32)
    return mx.concatenate(per_episode)


def group_advantages(rewards, group):
    r = rewards.reshape(-1, group)
    adv = (r - r.mean(axis=1, keepdims=True)) / (r.std(axis=1, keepdims=True) + 1e-4)
    return adv.reshape(-1)


def expand_advantages(adv, episode_lengths):
    parts = [mx.full((n,), adv[i]) for i, n in enumerate(episode_lengths) if n > 0]
    return mx.concatenate(parts)


def rollout(model, rng, min_tokens=0):
    episodes = []
    for key in rng.permutation(KEYS)[:PROMPTS_PER_STEP]:
        key = int(key)
        prompt = [BOS] + [int(t) for t in rng.choice(FILLER, size=rng.integers(0, 3))] + [key]
        seqs = mx.array([prompt] * GROUP)
        acts = [[] for _ in range(GROUP)]
        lps = [[] for _ in range(GROUP)]
        alive = [True] * GROUP
        for pos in range(MAX_RESP):
            logits = model(seqs)[:, -1]
            if pos < min_tokens:
                logits = mx.where(mx.arange(VOCAB) == EOS, -1e9, logits)
            lp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
            toks = mx.random.categorical(logits)
            mx.eval(toks, lp)
            tl, lpl = toks.tolist(), lp.tolist()
            for g in range(GROUP):
                if not alive[g]:
                    continue
                if tl[g] == EOS:
                    alive[g] = False
                    continue
                acts[g].append(tl[g])
                lps[g].append(lpl[g][tl[g]])
            if not any(alive):
                break
            seqs = mx.concatenate([seqs, toks[:, None]], axis=1)
        for g in range(GROUP):
            hits = sum(1 for t in acts[g] if t == RELAY[key])
            episodes.append(Episode(obs=prompt, act=acts[g], rew=[hits / MAX_RESP], logprob=lps[g]))
    return episodes


def main():
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    model = RelayPolicy(VOCAB)
    bias = model.head.bias
    model.head.bias = mx.where(mx.arange(VOCAB) == EOS, -1.5, bias)
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=1e-3)

    def loss_fn(model, batch, adv_tok):
        lp = compute_logprobs_batched(model, batch['obs'], batch['act'],
                                      batch['prompt_lengths'], batch['episode_lengths'])
        return -(adv_tok * lp).mean()

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    rewards_hist = []
    for step in range(1, STEPS + 1):
        episodes = rollout(model, rng, min_tokens=1 if step <= MIN_TOKENS_STEPS else 0)
        batch = _pack_episodes(episodes)
        adv = group_advantages(batch['rewards'], GROUP)
        adv_tok = expand_advantages(adv, batch['episode_lengths'])
        loss, grads = loss_and_grad(model, batch, adv_tok)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        mean_r = float(batch['rewards'].mean().item())
        rewards_hist.append(mean_r)
        if step % 10 == 0 or step == 1:
            empties = sum(1 for n in batch['episode_lengths'] if n == 0)
            print(f"step {step:4d} | loss {loss.item():+.4f} | reward {mean_r:.3f} "
                  f"| avg10 {np.mean(rewards_hist[-10:]):.3f} | empty {empties} "
                  f"| tokens {sum(batch['episode_lengths'])}")
    print(f"final reward (last 20 steps): {np.mean(rewards_hist[-20:]):.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
