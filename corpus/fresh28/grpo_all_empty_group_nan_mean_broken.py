# Toy GRPO on a tiny "text" policy: two prompt kinds.
#   kind A ("say the number"): reward = fraction of emitted tokens equal to the target token
#   kind B ("stay silent"):    reward = 1 if the completion is empty (EOS first), else 0
# One prompt per step, a group of G sampled completions, group-normalised advantages,
# token-level policy-gradient loss averaged over the response tokens of the batch.
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(7)
mx.random.seed(7)

VOCAB = 6          # token 0 = EOS
MAX_LEN = 5
G = 6              # completions per prompt
STEPS = 400
PROMPT_DIM = 8


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(PROMPT_DIM + MAX_LEN, 48)
        self.l2 = nn.Linear(48, VOCAB)

    def __call__(self, x):
        return self.l2(nn.tanh(self.l1(x)))


def make_prompt():
    kind = random.choice("AB")
    target = random.randint(1, VOCAB - 1)
    v = [0.0] * PROMPT_DIM
    v[0] = 1.0 if kind == "A" else -1.0
    v[target] = 1.0
    return kind, target, v


def step_input(prompt_vec, t):
    pos = [0.0] * MAX_LEN
    pos[t] = 1.0
    return prompt_vec + pos


def rollout(model, prompt_vec):
    """Sample one completion; returns (inputs, sampled tokens incl. the final EOS)."""
    xs, acts = [], []
    for t in range(MAX_LEN):
        x = step_input(prompt_vec, t)
        logits = model(mx.array([x]))
        a = mx.random.categorical(logits).item()
        xs.append(x)
        acts.append(a)
        if a == 0:
            break
    return xs, acts


def reward(kind, target, acts):
    acts = [a for a in acts if a != 0]
    if kind == "B":
        return 1.0 if len(acts) == 0 else 0.0
    if not acts:
        return 0.0
    return sum(1 for a in acts if a == target) / MAX_LEN


def policy_loss(model, states, actions, resp_idx, adv):
    # score every sampled position, then keep only the response tokens (not the EOS)
    logp = nn.log_softmax(model(states), axis=-1)
    tok_logp = mx.take_along_axis(logp, actions[:, None], axis=-1).squeeze(-1)
    resp_logp = mx.take(tok_logp, resp_idx)
    return -mx.mean(resp_logp * adv)


model = Policy()
# start the policy biased towards stopping early (common for short-answer SFT'd models)
model.l2.bias = mx.array([1.5] + [0.0] * (VOCAB - 1))
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)
loss_and_grad = nn.value_and_grad(model, policy_loss)

win_loss, win_rew = [], []
for step in range(1, STEPS + 1):
    kind, target, pvec = make_prompt()
    group = [rollout(model, pvec) for _ in range(G)]
    rews = [reward(kind, target, acts) for _, acts in group]
    mu = sum(rews) / G
    sd = math.sqrt(sum((r - mu) ** 2 for r in rews) / G) + 1e-4
    advs = [(r - mu) / sd for r in rews]

    states, actions, resp, tok_adv = [], [], [], []
    for (xs, acts), a in zip(group, advs):
        for x, tok in zip(xs, acts):
            if tok != 0:
                resp.append(len(actions))
                tok_adv.append(a)
            states.append(x)
            actions.append(tok)

    S = mx.array(states, dtype=mx.float32)
    A = mx.array(actions, dtype=mx.int32)
    R = mx.array(resp, dtype=mx.int32)
    ADV = mx.array(tok_adv, dtype=mx.float32)

    loss, grads = loss_and_grad(model, S, A, R, ADV)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)

    win_loss.append(loss.item())
    win_rew.append(mu)
    if step % 25 == 0:
        print(f"step {step:4d} | loss {sum(win_loss) / len(win_loss):+.4f} | "
              f"mean reward {sum(win_rew) / len(win_rew):.3f} | response tokens this step {len(resp)}")
        win_loss, win_rew = [], []

print("done")
