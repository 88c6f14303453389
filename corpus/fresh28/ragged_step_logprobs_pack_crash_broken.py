"""GRPO-style fine-tuning of a toy token policy with chunked generation.

Each generation step emits a chunk of 1-3 tokens and records the sampler's
log-probs for that chunk as one mx.array, so an episode's `logprob` field is a
list of per-step arrays.  A length curriculum lets answers grow from one chunk
(warm-up) to up to four chunks.
"""
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(3)
mx.random.seed(3)

VOCAB, DIM, MAXPOS = 7, 10, 12
GROUP, ITERS = 8, 120


class Episode:
    def __init__(self):
        self.obs, self.act, self.logprob, self.rew = [], [], [], 0.0


class TokenPolicy(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Linear(DIM + MAXPOS, 64)
        self.out = nn.Linear(64, VOCAB)

    def __call__(self, x):
        return self.out(nn.silu(self.emb(x)))


def feat(prompt, pos):
    p = [0.0] * MAXPOS
    p[pos] = 1.0
    return prompt + p


def generate(policy, prompt, max_chunks):
    ep, pos = Episode(), 0
    for _ in range(max_chunks):
        k = random.randint(1, 3)
        chunk_lp = []
        for _ in range(k):
            if pos >= MAXPOS:
                break
            x = feat(prompt, pos)
            logits = policy(mx.array([x]))[0]
            tok = mx.random.categorical(logits).item()
            chunk_lp.append(nn.log_softmax(logits)[tok])
            ep.obs.append(x)
            ep.act.append(tok)
            pos += 1
        if chunk_lp:
            ep.logprob.append(mx.stack(chunk_lp))   # one array per generation step
    return ep


def score(ep, target):
    return sum(1.0 for a in ep.act if a == target) / MAXPOS


def pack_episodes(episodes, advantages):
    obs, act, old_lp, adv = [], [], [], []
    for ep, a in zip(episodes, advantages):
        obs += ep.obs
        act += ep.act
        old_lp.append(mx.array(ep.logprob))
        adv += [a] * len(ep.act)
    return (mx.array(obs), mx.array(act), mx.concatenate(old_lp, axis=-1).reshape(-1),
            mx.array(adv))


def grpo_loss(policy, obs, act, old_lp, adv, clip=0.2):
    lp = nn.log_softmax(policy(obs), axis=-1)
    new_lp = mx.take_along_axis(lp, act[:, None], axis=-1).squeeze(-1)
    ratio = mx.exp(new_lp - old_lp)
    obj = mx.minimum(ratio * adv, mx.clip(ratio, 1 - clip, 1 + clip) * adv)
    return -obj.mean()


policy = TokenPolicy()
mx.eval(policy.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.0)
lg = nn.value_and_grad(policy, grpo_loss)
t0 = time.time()

for it in range(1, ITERS + 1):
    target = random.randint(1, VOCAB - 1)
    prompt = [0.0] * DIM
    prompt[target] = 1.0
    max_chunks = 1 if it <= 40 else 4          # curriculum: longer answers after warm-up
    eps = [generate(policy, prompt, max_chunks) for _ in range(GROUP)]
    rews = mx.array([score(e, target) for e in eps])
    advs = ((rews - rews.mean()) / (mx.sqrt(mx.var(rews)) + 1e-4)).tolist()

    batch = pack_episodes(eps, advs)
    loss, grads = lg(policy, *batch)
    opt.update(policy, grads)
    mx.eval(policy.parameters(), opt.state)

    if it % 10 == 0:
        print(f"[{time.time() - t0:5.1f}s] it={it:3d} chunks<={max_chunks} "
              f"reward={rews.mean().item():.3f} loss={loss.item():.4f}", flush=True)
