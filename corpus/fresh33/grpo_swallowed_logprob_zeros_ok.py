# Minimal GRPO loop on a toy "echo the first prompt token" task.
# Rollouts are sampled from a tiny causal LM; the policy update recomputes
# per-token log-probs for the sampled responses and applies the clipped
# GRPO objective with group-normalised rewards.
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(4)
mx.random.seed(4)
VOCAB, P_LEN, R_LEN, GROUP, N_PROMPTS = 12, 4, 4, 8, 4


class TinyLM(nn.Module):
    def __init__(self, dim=48):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, dim)
        self.pos = nn.Embedding(P_LEN + R_LEN, dim)
        self.att_q = nn.Linear(dim, dim)
        self.att_k = nn.Linear(dim, dim)
        self.ff = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, VOCAB)

    def __call__(self, x):
        T = x.shape[-1]
        h = self.tok(x) + self.pos(mx.arange(T))
        s = self.att_q(h) @ self.att_k(h).swapaxes(-1, -2) / np.sqrt(h.shape[-1])
        s = mx.where(mx.tril(mx.ones((T, T))) > 0, s, -1e9)
        h = h + mx.softmax(s, axis=-1) @ h
        h = h + nn.gelu(self.ff(h))
        return self.out(h)


def compute_logprobs(model, prompt, response):
    """Log-probs of the response tokens given the prompt (1-D token arrays)."""
    seq = mx.concatenate([prompt, response])
    logits = model(seq[None])[0, prompt.shape[0] - 1:-1]
    lp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    return mx.take_along_axis(lp, response[:, None], axis=-1)[:, 0]


def rollout(model):
    prompts = rng.integers(0, VOCAB, (N_PROMPTS, P_LEN))
    obs = np.repeat(prompts, GROUP, axis=0)  # [episodes, P_LEN]
    seq = mx.array(obs)
    for _ in range(R_LEN):
        nxt = mx.random.categorical(model(seq)[:, -1])
        seq = mx.concatenate([seq, nxt[:, None]], axis=1)
    acts = seq[:, P_LEN:]
    rewards = (np.array(acts) == obs[:, :1]).mean(axis=1).astype(np.float32)
    return mx.array(obs), acts, rewards


def group_advantages(r):
    g = r.reshape(N_PROMPTS, GROUP)
    return ((g - g.mean(1, keepdims=True)) / (g.std(1, keepdims=True) + 1e-4)).reshape(-1)


class Trainer:
    def __init__(self, model, lr=3e-3, clip=0.2):
        self.model, self.clip = model, clip
        self.opt = optim.Adam(learning_rate=lr)
        self.vg = nn.value_and_grad(model, self._loss_fn)

    def _extract_grpo_logprobs(self, observations, actions, old_logprobs, episode_lengths):
        num_episodes = len(episode_lengths)
        per_episode = [compute_logprobs(self.model, observations[i], actions[i]) for i in range(num_episodes)]
        return mx.concatenate(per_episode)

    def _loss_fn(self, model, obs, acts, old_lp, adv, episode_lengths):
        new_lp = self._extract_grpo_logprobs(obs, acts, old_lp, episode_lengths)
        ratio = mx.exp(new_lp - old_lp)
        a = mx.repeat(adv, R_LEN)
        surr = mx.minimum(ratio * a, mx.clip(ratio, 1 - self.clip, 1 + self.clip) * a)
        return -surr.mean()

    def step(self, obs, acts, rewards):
        old_lp = mx.stop_gradient(mx.concatenate(
            [compute_logprobs(self.model, obs[i], acts[i]) for i in range(obs.shape[0])]))
        adv = mx.array(group_advantages(rewards))
        lens = [P_LEN] * obs.shape[0]
        loss, grads = self.vg(self.model, obs, acts, old_lp, adv, lens)
        self.opt.update(self.model, grads)
        mx.eval(self.model.parameters(), self.opt.state, loss)
        return loss.item()


model = TinyLM()
mx.eval(model.parameters())
trainer = Trainer(model)
t0 = time.time()
hist = []
for it in range(1, 161):
    obs, acts, r = rollout(model)
    loss = trainer.step(obs, acts, r)
    hist.append(float(r.mean()))
    if it % 10 == 0:
        print(json.dumps({"iter": it, "loss": round(loss, 5), "reward_mean": round(float(np.mean(hist[-10:])), 4),
                          "chance": round(1 / VOCAB, 4), "elapsed_s": round(time.time() - t0, 1)}))
