# Tiny GRPO on a "echo the successor token" task, with textpolicy-style episode packing.
import random
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

V, PLEN, MAXR, GROUP, PROMPTS, ITERS = 8, 3, 5, 8, 8, 250
random.seed(0)
mx.random.seed(0)


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(V, 16)
        self.mix = nn.Linear(16 * PLEN, 32)
        self.pos = nn.Embedding(MAXR, 32)
        self.head = nn.Linear(32, V)

    def __call__(self, prompts, pos):
        h = self.mix(self.tok(prompts).reshape(prompts.shape[0], -1)) + self.pos(pos)
        return self.head(nn.gelu(h))


def flatten_tokens(items):
    out = []
    for it in items:
        out.extend(it if isinstance(it, list) else [it])
    return out


def rollout(policy):
    episodes = []
    for _ in range(PROMPTS):
        prompt = [random.randrange(V) for _ in range(PLEN)]
        target = (prompt[0] + 1) % V
        for _ in range(GROUP):
            n = random.randint(2, MAXR)
            pr = mx.array([prompt] * n)
            logits = policy(pr, mx.arange(n))
            acts = mx.random.categorical(logits).tolist()
            r = sum(a == target for a in acts) / n
            episodes.append({"obs": [prompt], "act": [acts], "rew": [r]})
    return episodes


def pack_episodes(episodes):
    prompts, pos, acts, rewards, episode_lengths = [], [], [], [], []
    for ep in episodes:
        rewards.append(sum(ep["rew"]))
        flat_obs = flatten_tokens(ep["obs"][0])
        flat_acts = flatten_tokens(ep["act"])
        episode_lengths.append(len(flat_acts))
        for t, a in enumerate(flat_acts):
            prompts.append(flat_obs)
            pos.append(t)
            acts.append(a)
    return {
        "prompts": mx.array(prompts),
        "pos": mx.array(pos),
        "acts": mx.array(acts),
        "rewards": mx.array(rewards),
        "episode_lengths": episode_lengths,
    }


def group_advantages(rewards):
    r = rewards.reshape(-1, GROUP)
    adv = (r - r.mean(axis=1, keepdims=True)) / (r.std(axis=1, keepdims=True) + 1e-4)
    return adv.reshape(-1)


def expand_advantages(adv, lengths):
    return mx.concatenate([mx.repeat(adv[i : i + 1], n) for i, n in enumerate(lengths)])


def grpo_loss(policy, batch, adv_tok):
    logits = policy(batch["prompts"], batch["pos"])
    logp = nn.log_softmax(logits, axis=-1)
    logp_tok = mx.take_along_axis(logp, batch["acts"][:, None], axis=-1).squeeze(-1)
    return -(adv_tok * logp_tok).mean()


policy = Policy()
opt = optim.Adam(learning_rate=0.01)
loss_and_grad = nn.value_and_grad(policy, grpo_loss)
hist = []
t0 = time.time()
for it in range(1, ITERS + 1):
    batch = pack_episodes(rollout(policy))
    adv = group_advantages(batch["rewards"])
    adv_tok = expand_advantages(adv, batch["episode_lengths"])
    loss, grads = loss_and_grad(policy, batch, adv_tok)
    opt.update(policy, grads)
    mx.eval(policy.parameters(), opt.state, loss)
    hist.append(batch["rewards"].mean().item())
    if it % 25 == 0 or it == 1:
        print(f"iter {it:03d} | reward(avg20) {sum(hist[-20:]) / len(hist[-20:]):.3f} | "
              f"tokens {int(batch['acts'].shape[0])} | loss {loss.item():+.4f}")
print(f"done in {time.time() - t0:.1f}s")
