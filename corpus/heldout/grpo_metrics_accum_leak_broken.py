"""Online RL fine-tune (REINFORCE with a KL penalty) of a small sequence policy.

Metrics (reward, KL to the reference, entropy) are accumulated every step and
reported, averaged, every `steps_per_report` steps, like the mlx-lm-lora RL
trainers do.
"""
import copy
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB, CTX = 128, 32


class TinyPolicy(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(CTX, 32)
        self.mlp = nn.Linear(32, 128)
        self.head = nn.Linear(128, VOCAB)

    def __call__(self, ctx_ids):
        return self.head(nn.silu(self.mlp(self.embed(ctx_ids))))


def reward_fn(ctx_ids, actions):
    # the "judge" likes tokens congruent to the context id modulo 16
    return (actions % 16 == ctx_ids % 16).astype(mx.float32)


def token_logp(model, ctx_ids, actions):
    logp = nn.log_softmax(model(ctx_ids), axis=-1)
    return mx.take_along_axis(logp, actions[:, None], axis=-1).squeeze(-1)


def rl_loss(model, ref, ctx_ids, actions, adv, beta):
    logp = token_logp(model, ctx_ids, actions)
    ref_logp = token_logp(ref, ctx_ids, actions)
    kl = mx.exp(ref_logp - logp) - (ref_logp - logp) - 1
    return (-(adv * logp) + beta * kl).mean()


def compute_metrics(model, ref, ctx_ids, actions, rewards):
    logits = model(ctx_ids)
    probs = mx.softmax(logits, axis=-1)
    entropy = -(probs * nn.log_softmax(logits, axis=-1)).sum(axis=-1).mean()
    kl = (token_logp(model, ctx_ids, actions) - token_logp(ref, ctx_ids, actions)).mean()
    return {"reward": rewards.mean(), "kl": kl, "entropy": entropy}


def train(iters=1500, batch=16, beta=0.05, steps_per_report=1500):
    mx.random.seed(11)
    policy = TinyPolicy()
    ref = copy.deepcopy(policy)
    ref.freeze()
    opt = optim.Adam(learning_rate=3e-3)
    grad_fn = nn.value_and_grad(policy, rl_loss)
    accumulated_metrics = {"reward": 0.0, "kl": 0.0, "entropy": 0.0}
    tic = time.time()
    for it in range(1, iters + 1):
        ctx_ids = mx.random.randint(0, CTX, (batch,))
        actions = mx.random.categorical(policy(ctx_ids))
        rewards = reward_fn(ctx_ids, actions)
        adv = rewards - rewards.mean()
        loss, grads = grad_fn(policy, ref, ctx_ids, actions, adv, beta)
        metrics = compute_metrics(policy, ref, ctx_ids, actions, rewards)
        opt.update(policy, grads)
        for k, v in metrics.items():
            accumulated_metrics[k] += v
        mx.eval(policy.parameters(), opt.state, loss)
        if it % 250 == 0:
            print(f"Iter {it}: loss {loss.item():.4f}, it/sec {250 / (time.time() - tic):.1f}")
            tic = time.time()
        if it % steps_per_report == 0:
            report = {k: round(float(v.item()) / steps_per_report, 4)
                      for k, v in accumulated_metrics.items()}
            print(json.dumps({"iter": it, **report}))
            accumulated_metrics = {"reward": 0.0, "kl": 0.0, "entropy": 0.0}


if __name__ == "__main__":
    train()
