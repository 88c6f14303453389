"""Tiny GRPO trainer: a policy answers (a + b) mod 10 questions, rewards are 0/1,
advantages are normalised inside each group of sampled answers, KL to a frozen reference."""
import copy
import json
import traceback

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

mx.random.seed(11)
V, GROUP, PROMPTS, BETA = 10, 8, 16, 0.02


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb_a = nn.Embedding(10, 32)
        self.emb_b = nn.Embedding(10, 32)
        self.mlp = nn.Sequential(nn.Linear(64, 128), nn.GELU(), nn.Linear(128, V))

    def __call__(self, a, b):
        return self.mlp(mx.concatenate([self.emb_a(a), self.emb_b(b)], axis=-1))


class MLXGRPOTrainer:
    def __init__(self, model, steps=600, lr=3e-3, grad_accum=1):
        self.model = model
        self.ref_model = copy.deepcopy(model)
        self.ref_model.freeze()
        self.optimizer = optim.Adam(learning_rate=lr)
        self.steps, self.grad_accum = steps, grad_accum
        self.step = 0
        self._accum_grads = None

    def sample_batch(self):
        a = mx.random.randint(0, 10, (PROMPTS,))
        b = mx.random.randint(0, 10, (PROMPTS,))
        a_rep, b_rep = mx.repeat(a, GROUP), mx.repeat(b, GROUP)
        logits = self.model(a_rep, b_rep)
        responses = mx.random.categorical(logits)
        old_log_probs = mx.take_along_axis(nn.log_softmax(logits), responses[:, None], -1)[:, 0]
        rewards = (responses == (a_rep + b_rep) % 10).astype(mx.float32).reshape(PROMPTS, GROUP)
        adv = (rewards - rewards.mean(1, keepdims=True)) / (rewards.std(1, keepdims=True) + 1e-4)
        mx.eval(responses, old_log_probs, rewards, adv)
        return a_rep, b_rep, responses, mx.stop_gradient(old_log_probs), rewards, adv.reshape(-1)

    def compute_grpo_loss(self, policy_model, ref_model, a, b, responses, advantages, old_log_probs):
        logp_all = nn.log_softmax(policy_model(a, b))
        ref_all = nn.log_softmax(ref_model(a, b))
        logp = mx.take_along_axis(logp_all, responses[:, None], -1)[:, 0]
        ref_logp = mx.take_along_axis(ref_all, responses[:, None], -1)[:, 0]
        ratio = mx.exp(logp - old_log_probs)
        policy_reward = (ratio * advantages).mean()
        kl = (mx.exp(ref_logp - logp) - (ref_logp - logp) - 1).mean()
        return -policy_reward + BETA * kl, policy_reward, kl

    def train_step(self):
        a, b, responses, old_log_probs, rewards, advantages = self.sample_batch()
        self.last_reward_mean = rewards.mean().item()

        # 3. Define loss function for gradient computation
        def loss_fn(policy_model):
            """Loss function that computes GRPO objective."""
            loss, policy_reward, kl_div = self.compute_grpo_loss(
                policy_model, self.ref_model, a, b, responses, advantages, old_log_probs
            )
            return loss, (policy_reward, kl_div)

        # 4. Compute loss and gradients
        try:
            grad_fn_raw = nn.value_and_grad(self.model, loss_fn)
            (loss, (policy_reward, kl_div)), grads = grad_fn_raw()

            if self._accum_grads is None:
                self._accum_grads = grads
            else:
                self._accum_grads = tree_map(lambda x, y: x + y, self._accum_grads, grads)
            if (self.step + 1) % self.grad_accum == 0:
                scaled = tree_map(lambda g: g / self.grad_accum, self._accum_grads)
                scaled, grad_norm = optim.clip_grad_norm(scaled, 1.0)
                self.optimizer.update(self.model, scaled)
                self._accum_grads = None
                mx.eval(self.model.trainable_parameters(), self.optimizer.state)
        except Exception as e:
            print(f"Training step failed: {e}")
            traceback.print_exc()
            loss = mx.array(0.0)
            policy_reward = mx.array(0.0)
            kl_div = mx.array(0.0)
        self.step += 1
        return loss, policy_reward, kl_div

    def train(self):
        window = []
        for _ in range(self.steps):
            loss, pr, kl = self.train_step()
            window.append(self.last_reward_mean)
            if self.step % 20 == 0:
                print(json.dumps({"step": self.step, "reward_mean": round(sum(window) / len(window), 4),
                                  "loss": round(float(loss), 4), "kl": round(float(kl), 5)}), flush=True)
                window = []


MLXGRPOTrainer(Policy()).train()
