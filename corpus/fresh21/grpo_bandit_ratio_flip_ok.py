"""GRPO-style policy training on a synthetic contextual bandit ("which tool answers this prompt").

Each prompt is a feature vector; the policy samples G answers per prompt, answers are
scored by a verifier (1.0 exact tool, 0.3 same family, 0.0 otherwise), rewards are
normalised per group into advantages and the policy is updated with a clipped
surrogate + KL penalty towards a frozen reference policy.
"""
import copy
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("grpo")

N_FEAT, N_TOOLS, G = 10, 12, 8
rng = np.random.default_rng(7)
W_TRUE = rng.normal(size=(N_FEAT, N_TOOLS)).astype(np.float32)


def sample_prompts(n):
    x = rng.normal(size=(n, N_FEAT)).astype(np.float32)
    best = np.argmax(x @ W_TRUE, axis=1)
    return x, best


def verifier(actions, best):
    # exact tool -> 1.0, same family (tools come in groups of 3) -> 0.3, else 0
    exact = (actions == best[:, None]).astype(np.float32)
    family = ((actions // 3) == (best[:, None] // 3)).astype(np.float32)
    return np.maximum(exact, 0.3 * family)


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, N_TOOLS)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


def seq_logprob(logits, actions):
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    return mx.take_along_axis(logp, actions, axis=-1)


def grpo_loss(logprobs_current, logprobs_old, advantages, kl, clip_range=0.2, kl_coeff=0.04):
    ratios = mx.exp(logprobs_current - logprobs_old)
    surr1 = ratios * advantages
    ratios_clamped = mx.minimum(mx.maximum(ratios, 1.0 - clip_range), 1.0 + clip_range)
    surr2 = ratios_clamped * advantages
    return mx.mean(-mx.minimum(surr1, surr2) + kl_coeff * kl)


def compute_advantages(rewards):
    mean = rewards.mean(axis=1, keepdims=True)
    std = rewards.std(axis=1, keepdims=True)
    return (rewards - mean) / (std + 1e-4)


def main():
    mx.random.seed(0)
    policy = Policy()
    ref = copy.deepcopy(policy)
    ref.freeze()
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.0)

    def loss_fn(model, x, actions, old_lp, adv, ref_lp):
        lp = seq_logprob(model(x), actions)
        kl = lp - ref_lp
        return grpo_loss(lp, old_lp, adv, kl)

    loss_and_grad = nn.value_and_grad(policy, loss_fn)

    x_eval, best_eval = sample_prompts(2000)
    x_eval_m = mx.array(x_eval)
    greedy0 = np.array(mx.argmax(policy(x_eval_m), axis=-1))
    log.info("iter 0 | greedy reward %.3f | exact %.3f (before training)",
             verifier(greedy0[:, None], best_eval).mean(), float((greedy0 == best_eval).mean()))
    t0 = time.time()
    for it in range(1, 301):
        x_np, best = sample_prompts(32)
        x = mx.array(x_np)
        logits = policy(x)
        actions = mx.random.categorical(logits, num_samples=G)          # (B, G)
        old_lp = mx.stop_gradient(seq_logprob(logits, actions))
        ref_lp = seq_logprob(ref(x), actions)
        rewards = verifier(np.array(actions), best)
        adv = mx.array(compute_advantages(rewards))
        mx.eval(old_lp, ref_lp)
        for _ in range(2):  # two optimisation epochs per rollout batch
            loss, grads = loss_and_grad(policy, x, actions, old_lp, adv, ref_lp)
            opt.update(policy, grads)
            mx.eval(policy.parameters(), opt.state, loss)
        if it % 25 == 0:
            greedy = np.array(mx.argmax(policy(x_eval_m), axis=-1))
            greedy_r = verifier(greedy[:, None], best_eval).mean()
            log.info("iter %d | loss %.4f | sampled reward %.3f | greedy reward %.3f | exact %.3f | %.1fs",
                     it, loss.item(), rewards.mean(), greedy_r,
                     float((greedy == best_eval).mean()), time.time() - t0)


if __name__ == "__main__":
    main()
