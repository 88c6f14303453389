"""Group-relative policy training of a tiny GRU token policy.

Task: given a prompt of digits, continue counting upward (mod 10) and stop
with EOS.  Prompts come from a set pool of mixed lengths; every response is
capped by the remaining room in the context window.
"""
import math
import random
from types import SimpleNamespace
from typing import Any, Dict, List

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 7
VOCAB = 11          # digits 0-9 and EOS
EOS = 10
CTX = 10            # context window (prompt + response)
MAX_NEW = 4
GROUP = 16
STEPS = 150
LR = 2e-3

random.seed(SEED)
mx.random.seed(SEED)


class TokenPolicy(nn.Module):
    def __init__(self, vocab: int, dim: int = 32, hidden: int = 64):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.rnn = nn.GRU(dim, hidden)
        self.head = nn.Linear(hidden, vocab)

    def __call__(self, tokens: mx.array) -> mx.array:
        h = self.rnn(self.embed(tokens))
        return self.head(h)


def get_logprobs(model_output: mx.array, actions: mx.array) -> mx.array:
    logits = model_output
    if logits.ndim < 2:
        raise ValueError(f"Expected logits with at least 2 dimensions, got {logits.ndim}")
    log_probs = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    if actions.ndim == 1:
        if log_probs.ndim == 3:
            log_probs = log_probs[0]
        actions_len = actions.size
        if log_probs.shape[0] != actions_len:
            raise ValueError(
                f"Sequence length mismatch: logits have {log_probs.shape[0]} positions "
                f"but actions have {actions_len} tokens"
            )
        idx = mx.arange(actions_len)
        return log_probs[idx, actions]
    elif actions.ndim == 2:
        b, s = actions.shape
        if log_probs.shape[0] != b or log_probs.shape[1] != s:
            raise ValueError(
                f"Batch shape mismatch: logits shape {log_probs.shape[:2]} vs actions shape {actions.shape}"
            )
        return log_probs[mx.arange(b)[:, None], mx.arange(s)[None, :], actions]
    raise ValueError(f"Unsupported actions dimension: {actions.ndim}")


def compute_logprobs_batched(model, full_sequences, response_tokens, prompt_lengths, response_lengths):
    if full_sequences.ndim != 2:
        raise ValueError(f"full_sequences must be 2D, got shape {full_sequences.shape}")
    if response_tokens.ndim != 2:
        raise ValueError(f"response_tokens must be 2D, got shape {response_tokens.shape}")
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
        pred = logits[i, p_len - 1: p_len - 1 + r_len, :]
        lp = pred - mx.logsumexp(pred, axis=-1, keepdims=True)
        toks = response_tokens[i, :r_len]
        per_episode.append(mx.take_along_axis(lp, toks[:, None], axis=-1).squeeze(-1))
    if not per_episode:
        return mx.array([], dtype=mx.float32)
    return mx.concatenate(per_episode)


def pack_episodes(episodes: List[Any]) -> Dict[str, Any]:
    all_obs, all_acts, all_logprobs = [], [], []
    episode_lengths, prompt_lengths, rewards = [], [], []
    for ep in episodes:
        obs = list(ep.obs)
        act = list(ep.act)
        episode_lengths.append(len(act))
        prompt_lengths.append(len(obs))
        all_obs.append(obs + act)
        all_acts.append(act)
        all_logprobs.append(ep.logprob)
        rewards.append(float(ep.rew))

    max_obs_len = max(len(o) for o in all_obs) if all_obs else 0
    max_act_len = max(len(a) for a in all_acts) if all_acts else 0
    all_obs_mx = [mx.array(o, dtype=mx.int64) if o else mx.zeros(0, dtype=mx.int64) for o in all_obs]
    all_acts_mx = [mx.array(a, dtype=mx.int64) if a else mx.zeros(0, dtype=mx.int64) for a in all_acts]

    if max_obs_len > 0:
        padded_obs = [mx.pad(o, (0, max_obs_len - o.shape[0]), constant_values=0)
                      if o.shape[0] < max_obs_len else o[:max_obs_len] for o in all_obs_mx]
        stacked_obs = mx.stack(padded_obs)
    else:
        stacked_obs = mx.array([], dtype=mx.int64)

    if max_act_len > 0:
        padded_acts = [mx.pad(a, (0, max_act_len - a.shape[0]), constant_values=0)
                       if a.shape[0] < max_act_len else a[:max_act_len] for a in all_acts_mx]
        stacked_acts = mx.stack(padded_acts)
    else:
        stacked_acts = mx.array([], dtype=mx.int64)

    lps = [mx.array(lp, dtype=mx.float32) for lp in all_logprobs if lp]
    flat_logprobs = mx.concatenate(lps) if lps else mx.array([], dtype=mx.float32)
    return {
        "obs": stacked_obs,
        "act": stacked_acts,
        "logprob": flat_logprobs,
        "rewards": mx.array(rewards),
        "episode_lengths": episode_lengths,
        "prompt_lengths": prompt_lengths,
    }


def extract_logprobs(model, observations, actions, episode_lengths, prompt_lengths):
    expected = sum(episode_lengths)
    if observations.ndim == 2 and actions.ndim == 2:
        new_lp = compute_logprobs_batched(model, observations, actions, prompt_lengths, episode_lengths)
    else:
        model_input = observations[None] if observations.ndim == 1 else observations
        new_lp = get_logprobs(model(model_input), actions)
    if new_lp.shape[0] != expected:
        raise ValueError(f"new_logprobs has {new_lp.shape[0]} entries, expected {expected}")
    return new_lp


def group_advantages(rewards: mx.array) -> mx.array:
    return (rewards - rewards.mean()) / (rewards.std() + 1e-6)


def expand_advantages(adv: mx.array, lengths: List[int]) -> mx.array:
    parts = [mx.repeat(adv[i:i + 1], n) for i, n in enumerate(lengths) if n > 0]
    return mx.concatenate(parts) if parts else mx.array([], dtype=mx.float32)


def grpo_loss(model, batch, adv_tok):
    new_lp = extract_logprobs(model, batch["obs"], batch["act"],
                              batch["episode_lengths"], batch["prompt_lengths"])
    ratio = mx.exp(new_lp - batch["logprob"])
    clipped = mx.clip(ratio, 0.8, 1.28)
    obj = mx.minimum(ratio * adv_tok, clipped * adv_tok)
    n_tok = max(sum(batch["episode_lengths"]), 1)
    return -mx.sum(obj) / n_tok


def target_continuation(prompt: List[int], n: int) -> List[int]:
    return [(prompt[-1] + k + 1) % 10 for k in range(n)]


def reward_fn(prompt: List[int], response: List[int], budget: int) -> float:
    want = target_continuation(prompt, budget)
    score = sum(1.0 for tok, w in zip(response, want) if tok == w)
    return score / max(budget, 1)


def sample_group(model, prompt: List[int], budget: int, group: int):
    episodes = []
    for _ in range(group):
        seq = list(prompt)
        act, lps = [], []
        for _ in range(budget):
            logits = model(mx.array(seq, dtype=mx.int64)[None])[0, -1]
            tok = mx.random.categorical(logits)
            lp = logits - mx.logsumexp(logits)
            t = int(tok.item())
            if t == EOS:
                break
            act.append(t)
            lps.append(float(lp[t].item()))
            seq.append(t)
        episodes.append(SimpleNamespace(obs=prompt, act=act, logprob=lps,
                                        rew=reward_fn(prompt, act, budget)))
    return episodes


def make_prompt_pool(n: int) -> List[List[int]]:
    rng = random.Random(SEED)
    pool = []
    for i in range(n):
        length = 3 + (i * 7) % (CTX - 2)      # 3 .. CTX
        start = rng.randrange(10)
        pool.append([(start + k) % 10 for k in range(length)])
    return pool


def main():
    model = TokenPolicy(VOCAB)
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=LR)
    loss_and_grad = nn.value_and_grad(model, grpo_loss)

    pool = make_prompt_pool(24)
    order = list(range(len(pool)))
    random.Random(SEED).shuffle(order)
    print(f"prompt pool: {len(pool)} prompts, lengths {sorted(set(len(p) for p in pool))}, ctx={CTX}")

    history = []
    for step in range(1, STEPS + 1):
        prompt = pool[order[(step - 1) % len(order)]]
        budget = min(MAX_NEW, CTX - len(prompt))
        episodes = sample_group(model, prompt, budget, GROUP)
        batch = pack_episodes(episodes)
        adv = group_advantages(batch["rewards"])
        adv_tok = expand_advantages(adv, batch["episode_lengths"])
        loss, grads = loss_and_grad(model, batch, adv_tok)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        mean_r = float(batch["rewards"].mean().item())
        mean_len = sum(batch["episode_lengths"]) / GROUP
        history.append(mean_r)
        if step % 10 == 0 or step == 1 or budget == 0:
            print(f"step {step:3d} | prompt_len {len(prompt):2d} budget {budget} | "
                  f"reward {mean_r:.3f} | resp_len {mean_len:.2f} | loss {loss.item():+.4f}")

    first = sum(history[:20]) / 20
    last = sum(history[-20:]) / 20
    print(f"mean reward first20 {first:.3f} -> last20 {last:.3f}")


if __name__ == "__main__":
    main()
