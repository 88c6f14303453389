"""GRPO trainer for a one-token "next digit" task, mlx-lm-lora style.

The prompt is a digit d (one-hot); the policy answers with one token and is
rewarded when it says (d + 1) % 10. Group-normalised advantages, a clipped
importance ratio and a KL penalty towards the frozen reference policy.
"""
import copy
import logging

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO)
log = logging.getLogger("grpo")


class Policy(nn.Module):
    def __init__(self, vocab=10, hidden=48):
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        self.out = nn.Linear(hidden, vocab)

    def __call__(self, prompt_ids):
        return self.out(nn.gelu(self.embed(prompt_ids)))


class GRPOTrainer:
    def __init__(self, policy, group_size=8, beta=0.04, epsilon=0.2,
                 importance_sampling_level=None):
        self.policy = policy
        self.reference = copy.deepcopy(policy)
        self.reference.freeze()
        self.group_size = group_size
        self.beta = beta
        self.epsilon = epsilon
        self.importance_sampling_level = importance_sampling_level
        self.optimizer = optim.Adam(learning_rate=2e-3)
        self.grad_fn = nn.value_and_grad(policy, self.loss)

    def log_ratio(self, logp, logp_old):
        if self.importance_sampling_level == "token":
            return logp - logp_old
        return mx.zeros_like(logp)

    def loss(self, model, prompts, actions, adv):
        logp_all = nn.log_softmax(model(prompts), axis=-1)
        logp = mx.take_along_axis(logp_all, actions[:, None], axis=-1).squeeze(-1)
        ref_all = nn.log_softmax(self.reference(prompts), axis=-1)
        ref = mx.take_along_axis(ref_all, actions[:, None], axis=-1).squeeze(-1)
        coef = mx.exp(self.log_ratio(logp, mx.stop_gradient(logp)))
        clipped = mx.clip(coef, 1 - self.epsilon, 1 + self.epsilon)
        pg = -mx.minimum(coef * adv, clipped * adv)
        kl = mx.exp(ref - logp) - (ref - logp) - 1
        return (pg + self.beta * kl).mean()

    def step(self, digits):
        prompts = mx.repeat(digits, self.group_size)
        actions = mx.random.categorical(self.policy(prompts))
        rewards = (actions == (prompts + 1) % 10).astype(mx.float32)
        grouped = rewards.reshape(-1, self.group_size)
        mean = grouped.mean(axis=1, keepdims=True)
        std = mx.sqrt(((grouped - mean) ** 2).mean(axis=1, keepdims=True))
        adv = ((grouped - mean) / (std + 1e-4)).reshape(-1)
        loss, grads = self.grad_fn(self.policy, prompts, actions, adv)
        self.optimizer.update(self.policy, grads)
        mx.eval(self.policy.parameters(), self.optimizer.state, loss, rewards)
        return loss.item(), rewards.mean().item()

    def train(self, iters=300, report_every=20):
        log.info("starting GRPO: %d iters, group size %d", iters, self.group_size)
        for it in range(1, iters + 1):
            digits = mx.random.randint(0, 10, (12,))
            loss, reward = self.step(digits)
            if it % report_every == 0:
                log.info("step %d/%d reward=%.3f loss=%.4f", it, iters, reward, loss)


mx.random.seed(7)
GRPOTrainer(Policy()).train()
