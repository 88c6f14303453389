# GRPO-style policy-gradient fine-tuning of a tiny "next token" policy on a toy
# prompt -> answer task. Rollouts go into a replay buffer, the trainer samples from it.
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB = 16
OBS_DIM = 32       # token types in a prompt
CTX_LEN = 1024      # prompt length in tokens
GROUP = 8            # completions per prompt
PROMPTS = 16         # prompts per rollout step
STEPS = 200

mx.random.seed(0)
# a prompt is a 1024-token sequence in which the hidden id token is over-represented;
# the correct answer token is (3*id+1) % VOCAB. The policy reads bag-of-token features.


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(OBS_DIM, 32)
        self.l2 = nn.Linear(32, VOCAB)

    def __call__(self, x):
        return self.l2(nn.gelu(self.l1(x)))


class RolloutBuffer:
    def __init__(self):
        self.episodes = []

    def add(self, **ep):
        self.episodes.append(ep)

    def clear(self):
        self.episodes = []

    def sample_all(self):
        keys = self.episodes[0].keys()
        return {k: mx.concatenate([e[k] for e in self.episodes]) for k in keys}

    def __len__(self):
        return sum(e["act"].shape[0] for e in self.episodes)


policy = Policy()
mx.eval(policy.parameters())
opt = optim.Adam(learning_rate=3e-3)
buffer = RolloutBuffer()


def rollout():
    ids = mx.random.randint(0, VOCAB, (PROMPTS,))
    noise = mx.random.randint(0, OBS_DIM, (PROMPTS, CTX_LEN))
    ctx = mx.where(mx.random.uniform(shape=(PROMPTS, CTX_LEN)) < 0.06, ids[:, None], noise)
    obs = (ctx[..., None] == mx.arange(OBS_DIM)).astype(mx.float32).mean(axis=1) * OBS_DIM - 1.0
    obs = mx.repeat(obs, GROUP, axis=0)                      # (P*G, D)
    ctx = mx.repeat(ctx, GROUP, axis=0)                      # prompt tokens per completion
    target = mx.repeat((3 * ids + 1) % VOCAB, GROUP, axis=0)
    logits = policy(obs)
    act = mx.random.categorical(logits)
    reward = (act == target).astype(mx.float32)
    r = reward.reshape(PROMPTS, GROUP)
    adv = (r - r.mean(axis=1, keepdims=True)) / (r.std(axis=1, keepdims=True) + 1e-4)
    mx.eval(obs, ctx, act, reward, adv)
    return ctx, obs, act, reward, adv.reshape(-1)


def pg_loss(model, obs, act, adv):
    logp = nn.log_softmax(model(obs), axis=-1)
    logp_a = mx.take_along_axis(logp, act[:, None], axis=-1).squeeze(-1)
    return -(adv * logp_a).mean()


grad_fn = nn.value_and_grad(policy, pg_loss)


def train_on_buffer():
    batch = buffer.sample_all()
    loss, grads = grad_fn(policy, batch["obs"], batch["act"], batch["adv"])
    opt.update(policy, grads)
    mx.eval(policy.parameters(), opt.state, loss)
    return loss.item(), batch["act"].shape[0]


for step in range(1, STEPS + 1):
    t0 = time.perf_counter()
    ctx, obs, act, reward, adv = rollout()
    buffer.add(ctx=ctx, obs=obs, act=act, adv=adv)
    loss, n_used = train_on_buffer()
    dt = time.perf_counter() - t0
    if step % 20 == 0 or step == 1:
        print(json.dumps({"step": step, "reward": round(reward.mean().item(), 4),
                          "pg_loss": round(loss, 5), "trained_on": n_used,
                          "step_s": round(dt, 4)}), flush=True)
print(json.dumps({"done": True}))
