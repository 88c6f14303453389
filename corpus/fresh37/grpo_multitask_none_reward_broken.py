# Tiny GRPO-style policy-gradient run with two reward functions ("multi-task"):
# each reward function only applies to one kind of prompt and returns None for
# the others (TRL convention). Prompts come from two datasets concatenated.
import json
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

V, L, N = 6, 4, 16          # vocab, completion length, group size
rng = random.Random(0)
mx.random.seed(0)


def make_prompt(task):
    digits = [rng.randrange(1, V) for _ in range(L)]
    return {"task": task, "digits": digits}


# copy task first (dataset A), then a shuffled mix of copy/sort (dataset B)
dataset = [make_prompt("copy") for _ in range(25)]
mix = [make_prompt(rng.choice(["copy", "sort"])) for _ in range(575)]
dataset += mix


def encode(p):
    x = [1.0 if p["task"] == "copy" else 0.0, 1.0 if p["task"] == "sort" else 0.0]
    for d in p["digits"]:
        x += [1.0 if d == k else 0.0 for k in range(V)]
    return mx.array(x)


def reward_copy(completions, prompts, **kw):
    out = []
    for c, p in zip(completions, prompts):
        if p["task"] != "copy":
            out.append(None)          # not applicable to this prompt
        else:
            out.append(sum(int(a == b) for a, b in zip(c, p["digits"])) / L)
    return out


def reward_sort(completions, prompts, **kw):
    out = []
    for c, p in zip(completions, prompts):
        if p["task"] != "sort":
            out.append(None)
        else:
            tgt = sorted(p["digits"])
            out.append(sum(int(a == b) for a, b in zip(c, tgt)) / L)
    return out


reward_funcs = [reward_copy, reward_sort]


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(2 + L * V, 128)
        self.l2 = nn.Linear(128, L * V)

    def __call__(self, x):
        return self.l2(nn.relu(self.l1(x))).reshape(-1, L, V)


policy = Policy()
opt = optim.Adam(learning_rate=3e-3)


def pg_loss(model, x, actions, adv):
    logits = model(x)
    logp = nn.log_softmax(logits, axis=-1)
    lp = mx.take_along_axis(logp, actions[..., None], axis=-1).squeeze(-1).sum(-1)
    return -(adv * lp).mean()


loss_and_grad = nn.value_and_grad(policy, pg_loss)
t0 = time.time()
ema = {"copy": None, "sort": None}
for step, prompt in enumerate(dataset):
    x = mx.broadcast_to(encode(prompt)[None], (N, 2 + L * V))
    acts = mx.random.categorical(policy(x))          # (N, L)
    comps = acts.tolist()
    total = [0.0] * N
    for rf in reward_funcs:
        vals = rf(completions=comps, prompts=[prompt] * N)
        for i, v in enumerate(vals):
            total[i] += float(v)
    rewards = mx.array(total)
    advantages = (rewards - rewards.mean()) / (mx.std(rewards) + 1e-4)
    loss, grads = loss_and_grad(policy, x, acts, advantages)
    opt.update(policy, grads)
    mx.eval(policy.parameters(), opt.state, loss)
    r = sum(total) / N
    e = ema[prompt["task"]]
    ema[prompt["task"]] = r if e is None else 0.9 * e + 0.1 * r
    if step % 25 == 0:
        print(json.dumps({"rollout": step, "task": prompt["task"],
                          "reward_mean": round(r, 4),
                          "ema_copy": ema["copy"] and round(ema["copy"], 4),
                          "ema_sort": ema["sort"] and round(ema["sort"], 4),
                          "pg_loss": round(loss.item(), 5),
                          "t": round(time.time() - t0, 2)}), flush=True)
print(json.dumps({"done": True, "rollouts": len(dataset)}))
