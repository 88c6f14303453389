"""Ropewalk tarring schedule: GRPO fine-tuning of a tiny token policy.

Each episode is a short "strand" of tar-bath codes (prompt tokens). For every
code the policy emits a dwell setting token; the shop rule is dwell = (code + 3)
mod 16. Episode reward = fraction of dwell settings that follow the rule.
The trainer below is a trimmed vendored copy of a textpolicy-style Trainer.
"""

import logging
import time
from typing import Callable, Dict, List, Optional

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

VOCAB = 16
STRAND = 6
GROUP = 64
STEPS = 120
SEED = 7


# ----------------------------------------------------------------------------
# GRPO pieces (group-relative advantages, clipped surrogate)
# ----------------------------------------------------------------------------

def compute_advantages(rewards: mx.array) -> mx.array:
    rewards_tensor = rewards.astype(mx.float32)
    group_mean = mx.mean(rewards_tensor)
    return rewards_tensor - group_mean


def policy_loss(old_logprobs, new_logprobs, advantages,
                clip_ratio_low: float = 0.2, clip_ratio_high: float = 0.28):
    ratio = mx.exp(new_logprobs - old_logprobs)
    clipped_ratio = mx.clip(ratio, 1 - clip_ratio_low, 1 + clip_ratio_high)
    surr1 = ratio * advantages
    surr2 = clipped_ratio * advantages
    return -mx.mean(mx.minimum(surr1, surr2))


# ----------------------------------------------------------------------------
# Trainer (vendored, trimmed)
# ----------------------------------------------------------------------------

class Trainer:
    def __init__(
        self,
        model: nn.Module,
        advantage_fn: Callable,
        loss_fn: Callable,
        optimizer: optim.Optimizer,
        max_grad_norm: Optional[float] = 0.5,
        compile_training: bool = True,
    ):
        self.model = model
        self.advantage_fn = advantage_fn
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.max_grad_norm = max_grad_norm
        if compile_training:
            self.loss_and_grad_fn = mx.compile(nn.value_and_grad(model, self._loss_fn))
        else:
            self.loss_and_grad_fn = nn.value_and_grad(model, self._loss_fn)
        self._step_count = 0

    def _default_get_logprobs(self, model_output, actions):
        logits = model_output
        log_probs = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
        if actions.ndim == 1:
            if log_probs.ndim == 3:
                log_probs = log_probs[0]
            actions_len = actions.size
            if log_probs.shape[0] != actions_len:
                raise ValueError("Sequence length mismatch")
            action_indices = mx.arange(actions_len)
            return log_probs[action_indices, actions]
        raise ValueError(f"Unsupported actions dimension: {actions.ndim}")

    def _loss_fn(self, batch_data: Dict[str, mx.array]) -> mx.array:
        observations = batch_data['obs']
        actions = batch_data['act']
        old_logprobs = batch_data['logprob']
        rewards = batch_data['rewards']

        try:
            if observations.ndim == 1:
                model_input = observations[None]
            else:
                model_input = observations
            model_output = self.model(model_input)
            new_logprobs = self._default_get_logprobs(model_output, actions)
        except Exception:
            new_logprobs = mx.zeros_like(old_logprobs)

        advantages = self.advantage_fn(rewards)

        if advantages.shape[0] != new_logprobs.shape[0]:
            num_episodes = advantages.shape[0]
            total_tokens = new_logprobs.shape[0]
            base_length = total_tokens // num_episodes
            remainder = total_tokens % num_episodes
            action_lengths = [base_length + (1 if i < remainder else 0) for i in range(num_episodes)]

            if getattr(self, '_trace_logging', False):
                logger = logging.getLogger(__name__)
                logger.info(
                    "Advantage expansion: %d episodes -> %d tokens", num_episodes, total_tokens
                )
                logger.info(
                    "Distribution: base=%d, remainder=%d", base_length, remainder
                )
                logger.info(
                    "Sample lengths: %r...", action_lengths[:3]
                )

            advantages = self._expand_advantages(advantages, action_lengths)

            if getattr(self, '_trace_logging', False):
                logging.getLogger(__name__).info(
                    "Expansion successful: final shape = %d tokens", advantages.shape[0]
                )

        return self.loss_fn(old_logprobs, new_logprobs, advantages)

    def _expand_advantages(self, advantages: mx.array, episode_lengths: List[int]) -> mx.array:
        if len(set(episode_lengths)) == 1:
            return mx.repeat(advantages, episode_lengths[0])
        expanded = [mx.repeat(advantages[i:i + 1], n) for i, n in enumerate(episode_lengths)]
        return mx.concatenate(expanded)

    def train(self, batch_data: Dict[str, mx.array]) -> Dict[str, float]:
        loss, grads = self.loss_and_grad_fn(batch_data)
        if self.max_grad_norm is not None:
            grads, _ = optim.clip_grad_norm(grads, self.max_grad_norm)
        self.optimizer.update(self.model, grads)
        mx.eval(self.model.parameters(), self.optimizer.state)
        metrics = {'loss': loss.item(), 'step': self._step_count}
        self._step_count += 1
        return metrics


# ----------------------------------------------------------------------------
# Policy and rollouts
# ----------------------------------------------------------------------------

class DwellPolicy(nn.Module):
    def __init__(self, vocab: int = VOCAB, dim: int = 32):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.mix = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, vocab)

    def __call__(self, tokens: mx.array) -> mx.array:
        h = self.embed(tokens)
        h = nn.gelu(self.mix(h)) + h
        return self.head(h)


def rollout(model: nn.Module, rng: np.random.Generator) -> Dict[str, mx.array]:
    codes = rng.integers(0, VOCAB, size=(GROUP, STRAND))
    obs = mx.array(codes.reshape(-1))
    logits = model(obs[None])[0]
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    act = mx.random.categorical(logits)
    old_lp = logp[mx.arange(obs.size), act]
    target = (obs + 3) % VOCAB
    hits = (act == target).astype(mx.float32).reshape(GROUP, STRAND)
    rewards = hits.mean(axis=1)
    mx.eval(obs, act, old_lp, rewards)
    return {'obs': obs, 'act': act, 'logprob': mx.stop_gradient(old_lp), 'rewards': rewards}


def greedy_match(model: nn.Module) -> float:
    codes = mx.arange(VOCAB)
    pred = mx.argmax(model(codes[None])[0], axis=-1)
    return (pred == (codes + 3) % VOCAB).astype(mx.float32).mean().item()


def main():
    mx.random.seed(SEED)
    rng = np.random.default_rng(SEED)
    model = DwellPolicy()
    mx.eval(model.parameters())
    optimizer = optim.Adam(learning_rate=2e-3)
    trainer = Trainer(model, compute_advantages, policy_loss, optimizer,
                      max_grad_norm=0.5, compile_training=False)
    # check the episode -> token advantage expansion while tuning
    trainer._trace_logging = True

    print(f"policy params: {sum(v.size for _, v in nn.utils.tree_flatten(model.parameters()))}")
    print(f"random-guess reward baseline: {1.0 / VOCAB:.3f}")
    print(f"greedy rule match before training: {greedy_match(model):.3f}")
    t0 = time.time()
    window = []
    for step in range(1, STEPS + 1):
        batch = rollout(model, rng)
        metrics = trainer.train(batch)
        window.append(batch['rewards'].mean().item())
        if step % 10 == 0:
            print(f"step {step:4d} | loss {metrics['loss']:+.4f} | "
                  f"mean reward (last 10) {np.mean(window):.3f} | "
                  f"greedy match {greedy_match(model):.3f}")
            window = []
    print(f"final greedy rule match: {greedy_match(model):.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
