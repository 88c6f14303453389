# Online RL from a (rule-based) judge: each step the policy samples two completions per prompt,
# a Python judge scores them, and a REINFORCE loss with a per-prompt baseline updates the policy.
# Progress is printed as a small fixed-width table.
import time
from functools import partial
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

P, V, L = 6, 8, 5
mx.random.seed(5)


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(P, 48)
        self.mlp = nn.Sequential(nn.Linear(48, 64), nn.Tanh(), nn.Linear(64, L * V))

    def __call__(self, prompts):
        return self.mlp(self.emb(prompts)).reshape(-1, L, V)


def judge(prompt_ids, completions):
    """LLM-judge stand-in: plain Python scoring of decoded completions."""
    scores = []
    for p, comp in zip(prompt_ids, completions):
        wanted = [(p + k) % V for k in range(L)]
        scores.append(sum(int(a == b) for a, b in zip(comp, wanted)) / L)
    return scores


def pg_loss(model, prompts, completions, advantages):
    lp = nn.log_softmax(model(prompts), axis=-1)
    tok = mx.take_along_axis(lp, completions[..., None], axis=-1).squeeze(-1)
    return -(tok.sum(axis=1) * advantages).mean()


policy = Policy()
mx.eval(policy.parameters())
optimizer = optim.Adam(learning_rate=2e-3)
loss_and_grad = nn.value_and_grad(policy, pg_loss)
state = [policy.state, optimizer.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(prompts):
    # generate two completions per prompt
    pp = mx.repeat(prompts, 2)
    completions = mx.random.categorical(policy(pp))
    # judge them
    rewards = mx.array(judge(pp.tolist(), completions.tolist()))
    r = rewards.reshape(-1, 2)
    adv = (r - r.mean(axis=1, keepdims=True)).reshape(-1)
    loss, grads = loss_and_grad(policy, pp, completions, adv)
    optimizer.update(policy, grads)
    return loss, rewards.mean()


print(f"{'step':>6} {'loss':>9} {'reward':>7} {'greedy':>7} {'sec':>6}")
t0 = time.time()
for it in range(1, 1501):
    prompts = mx.random.randint(0, P, (16,))
    loss, reward = step(prompts)
    mx.eval(state)
    if it == 1 or it % 150 == 0:
        greedy = mx.argmax(policy(mx.arange(P)), axis=-1)
        g = sum(judge(list(range(P)), greedy.tolist())) / P
        print(f"{it:>6} {loss.item():>9.4f} {reward.item():>7.3f} {g:>7.3f} {time.time()-t0:>6.1f}")
