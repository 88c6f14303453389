# tiny GRPO on a toy "copy the first digit" task, with a KV-cache rollout
# (prefill each question once, replicate the cache for the group, then decode)
import copy
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(3)
DIG, BOS, EOS, V = 8, 8, 9, 10
max_tokens = 2
temperature = 1.0
batch_size = 4
generations = 8
epsilon = 1e-6


class KV:
    def __init__(self):
        self.keys = None
        self.values = None
        self.offset = 0


class TinyLM(nn.Module):
    def __init__(self, d=48):
        super().__init__()
        self.emb = nn.Embedding(V, d)
        self.pos = nn.Embedding(8, d)
        self.q = nn.Linear(d, d, bias=False)
        self.k = nn.Linear(d, d, bias=False)
        self.v = nn.Linear(d, d, bias=False)
        self.o = nn.Linear(d, d, bias=False)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.head = nn.Linear(d, V)
        self.scale = d ** -0.5

    def __call__(self, toks, cache=None):
        toks = mx.array(toks)
        B, T = toks.shape
        off = cache.offset if cache is not None else 0
        h = self.emb(toks) + self.pos(mx.arange(off, off + T))
        q, k, v = self.q(h), self.k(h), self.v(h)
        if cache is not None:
            if cache.keys is not None:
                k = mx.concatenate([cache.keys, k], axis=1)
                v = mx.concatenate([cache.values, v], axis=1)
            cache.keys, cache.values = k, v
            cache.offset = off + T
        S = k.shape[1]
        s = (q @ k.transpose(0, 2, 1)) * self.scale
        causal = mx.arange(off, off + T)[:, None] >= mx.arange(S)[None, :]
        s = mx.where(causal, s, -1e9)
        h = h + self.o(mx.softmax(s, axis=-1) @ v)
        h = h + self.ff(h)
        return self.head(h)


def question(i):
    a, b = (i * 5) % DIG, (i * 3 + i // DIG) % DIG
    return [BOS, a, b], a


def sample(logits, temp):
    return mx.random.categorical(logits * (1 / temp), axis=-1)


def selective_softmax(logits, tokens):
    lp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    return mx.take_along_axis(lp, mx.expand_dims(tokens, -1), axis=-1).squeeze(-1)


def build_rollout(model, indices, generations):
    prompts, answers = [], []
    for i in indices:
        prompt, answer = question(i)
        prompts.append(prompt)
        answers += [answer] * generations
    padded_prompts = prompts
    cache = KV()
    logits = []
    for i in padded_prompts:
        temp_cache = KV()
        logit = model([i], cache=temp_cache)
        cache.keys = (mx.concatenate([cache.keys, mx.repeat(temp_cache.keys, generations, 0)])
                      if cache.keys is not None else mx.repeat(temp_cache.keys, generations, 0))
        cache.values = (mx.concatenate([cache.values, mx.repeat(temp_cache.values, generations, 0)])
                        if cache.values is not None else mx.repeat(temp_cache.values, generations, 0))
        cache.offset = temp_cache.offset
        logits.append(mx.repeat(logit[:, -1, :], generations, 0))
    tokens = sample(mx.concatenate(logits), temperature)
    responses = mx.expand_dims(tokens, 1)
    prompts = mx.concatenate([mx.repeat(mx.array([p]), generations, 0) for p in padded_prompts])
    return cache, tokens, responses, answers, prompts


def create_generations(model, ref_model, indices, generations):
    cache, tokens, responses, answers, prompts = build_rollout(model, indices, generations)
    for _ in range(max_tokens - 1):
        tokens = sample(model(mx.expand_dims(tokens, 1), cache=cache)[:, -1, :], temperature)
        responses = mx.concatenate([responses, mx.expand_dims(tokens, 1)], 1)
    r = responses.tolist()
    rewards = mx.array([(1.0 if resp[0] == ans else 0.0) + (0.25 if resp[1] == EOS else 0.0)
                        for resp, ans in zip(r, answers)])
    baseline = mx.mean(rewards)
    std = mx.sqrt(mx.mean(mx.square(rewards - baseline)) + epsilon)
    advantages = (rewards - baseline) / (std + epsilon)
    full = mx.concatenate([prompts, responses], 1)
    ref_lp = selective_softmax(ref_model(full)[:, :-1, :], full[:, 1:])
    mask = mx.zeros(full[:, 1:].shape).at[:, -max_tokens:].add(1.0)
    correct = sum(1 for resp, ans in zip(r, answers) if resp[0] == ans) / len(answers)
    return {"tokens": full, "mask": mask, "adv": advantages, "ref": ref_lp}, baseline, correct


def grpo_loss(model, tokens, mask, adv, ref_lp):
    beta = 0.04
    lp = selective_softmax(model(tokens)[:, :-1, :], tokens[:, 1:])
    w = lp * adv[:, None]
    kr = ref_lp - lp
    kl = beta * (mx.exp(kr) - kr - 1)
    return -mx.mean(mx.sum((w - kl) * mask, axis=1) / mx.sum(mask, axis=1))


model = TinyLM()
ref_model = copy.deepcopy(model)
ref_model.freeze()
mx.eval(model.parameters(), ref_model.parameters())
optimizer = optim.AdamW(learning_rate=3e-3, betas=[0.9, 0.95], weight_decay=0.01)
vg = nn.value_and_grad(model, grpo_loss)

for step in range(160):
    idx = [(step * batch_size + j) % 64 for j in range(batch_size)]
    gens, avg_reward, acc = create_generations(model, ref_model, idx, generations)
    loss, grads = vg(model, gens["tokens"], gens["mask"], gens["adv"], gens["ref"])
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state, loss)
    if step % 10 == 0 or step == 159:
        print(f"step {step:3d}  avg_reward {avg_reward.item():.3f}  first_tok_acc {acc:.2f}  loss {loss.item():+.4f}")

# held-out check: greedy one question at a time
hit = 0
for i in range(64):
    p, a = question(i)
    hit += int(mx.argmax(model([p])[0, -1]).item() == a)
print(f"greedy accuracy over 64 questions: {hit}/64")
