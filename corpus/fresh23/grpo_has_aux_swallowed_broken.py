"""Tiny GRPO-style trainer on a toy "answer the prompt" task.

A policy (MLP over a one-hot prompt id) picks one of NUM_ANSWERS answers.
For every prompt we sample a group of answers from the old policy, score
them, normalise rewards inside the group (group-relative advantages), and
optimise the clipped-free GRPO objective with a KL penalty to a frozen
reference policy.  The old policy is re-synced every few steps.
"""
import copy
import random
import time
import traceback

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

NUM_PROMPTS = 12
NUM_ANSWERS = 8
GROUP = 8
STEPS = 1200
UPDATE_EVERY = 4
KL_COEFF = 0.02
MAX_GRAD_NORM = 1.0
LOG_EVERY = 60

random.seed(0)
mx.random.seed(0)

# the "correct" answer for each prompt (hidden from the policy)
TARGET = [(3 * p + 1) % NUM_ANSWERS for p in range(NUM_PROMPTS)]


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(NUM_PROMPTS, 64)
        self.l2 = nn.Linear(64, NUM_ANSWERS)

    def __call__(self, x):
        return self.l2(nn.tanh(self.l1(x)))


def one_hot(p):
    return mx.array([[1.0 if i == p else 0.0 for i in range(NUM_PROMPTS)]])


def reward_fn(prompt, answer):
    r = 1.0 if answer == TARGET[prompt] else 0.0
    # small shaping reward for being "close" (like a format reward)
    if abs(answer - TARGET[prompt]) == 1:
        r += 0.2
    return r


class GRPOTrainer:
    def __init__(self):
        self.model = Policy()
        mx.eval(self.model.parameters())
        self.ref_model = copy.deepcopy(self.model)
        self.ref_model.freeze()
        self.model_old = copy.deepcopy(self.model)
        self.optimizer = optim.Adam(learning_rate=1e-2)
        self.step = 0

    def generate(self, prompt):
        logits = self.model_old(one_hot(prompt))[0]
        logp = logits - mx.logsumexp(logits)
        answers = mx.random.categorical(mx.broadcast_to(logits, (GROUP, NUM_ANSWERS)))
        old_lp = mx.take(logp, answers)
        mx.eval(answers, old_lp)
        return answers.tolist(), old_lp

    def compute_grpo_loss(self, model, prompt, answers, advantages, old_lp):
        x = one_hot(prompt)
        idx = mx.array(answers)
        logits = model(x)[0]
        logp = mx.take(logits - mx.logsumexp(logits), idx)
        ref_logits = self.ref_model(x)[0]
        ref_lp = mx.take(ref_logits - mx.logsumexp(ref_logits), idx)
        ratio = mx.exp(logp - mx.stop_gradient(old_lp))
        policy_rewards = ratio * advantages
        log_ratio = ref_lp - logp
        kl = mx.exp(log_ratio) - log_ratio - 1
        objective = policy_rewards - KL_COEFF * kl
        return -mx.mean(objective), mx.mean(policy_rewards), mx.mean(kl)

    def train_step(self, prompt):
        answers, old_lp = self.generate(prompt)
        rewards = mx.array([reward_fn(prompt, a) for a in answers])
        advantages = (rewards - mx.mean(rewards)) / (mx.std(rewards) + 1e-4)

        def loss_fn(policy_model):
            loss, pr, kl = self.compute_grpo_loss(
                policy_model, prompt, answers, advantages, old_lp
            )
            return loss, (pr, kl)

        try:
            loss_and_grad_fn = nn.value_and_grad(self.model, loss_fn, has_aux=True)
            (loss, (policy_reward, kl_div)), grads = loss_and_grad_fn(self.model)

            grad_norm = mx.sqrt(sum(mx.sum(g * g) for _, g in tree_flatten(grads)))
            if grad_norm > MAX_GRAD_NORM:
                grads = tree_map(lambda g: g * MAX_GRAD_NORM / grad_norm, grads)
            self.optimizer.update(self.model, grads)
            mx.eval(self.model.trainable_parameters(), self.optimizer.state)
        except Exception as e:
            print(f"Training step failed: {e}")
            traceback.print_exc()
            loss = mx.array(0.0)
            policy_reward = mx.array(0.0)
            kl_div = mx.array(0.0)

        self.step += 1
        if self.step % UPDATE_EVERY == 0:
            self.model_old = copy.deepcopy(self.model)
            mx.eval(self.model_old.parameters())
        return loss, policy_reward, kl_div, float(mx.mean(rewards))

    def train(self):
        t0 = time.time()
        window = []
        prompts = list(range(NUM_PROMPTS))
        while self.step < STEPS:
            random.shuffle(prompts)
            for p in prompts:
                loss, pr, kl, rmean = self.train_step(p)
                window.append(rmean)
                if self.step % LOG_EVERY == 0:
                    print(
                        "Step {s}/{t}, Loss: {l:.4f}, Policy Reward: {pr:.4f}, KL: {kl:.4f}, "
                        "mean group reward (last {n}): {r:.3f}, {sec:.1f}s".format(
                            s=self.step, t=STEPS, l=float(loss), pr=float(pr),
                            kl=float(kl), n=len(window), r=sum(window) / len(window),
                            sec=time.time() - t0,
                        ),
                        flush=True,
                    )
                    window = []
                if self.step >= STEPS:
                    break


if __name__ == "__main__":
    print("=" * 60)
    print("toy GRPO: %d prompts, %d answers, group %d" % (NUM_PROMPTS, NUM_ANSWERS, GROUP))
    print("=" * 60)
    GRPOTrainer().train()
