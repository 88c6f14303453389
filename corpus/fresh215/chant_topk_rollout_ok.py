# Group-relative policy-gradient fine-tuning of a tiny autoregressive "chant" generator.
# Each prompt id p asks for the 4-token chant (p+1, p+3, p+5, p+7) mod V.
# Rollouts are sampled token by token with a top-k sampler, rewarded, and the
# policy is updated with group-normalised advantages.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

V, L, G, NPROMPT = 12, 4, 8, 12
TOP_K, TEMP = 6, 1.0
mx.random.seed(3)


class Chanter(nn.Module):
    def __init__(self, dim=48):
        super().__init__()
        self.prompt_emb = nn.Embedding(NPROMPT, dim)
        self.tok_emb = nn.Embedding(V + 1, dim)  # V = start symbol
        self.pos_emb = nn.Embedding(L, dim)
        self.body = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, V))

    def __call__(self, prompts, prev_tokens, pos):
        h = self.prompt_emb(prompts) + self.tok_emb(prev_tokens) + self.pos_emb(pos)
        return self.body(h)


def sample_top_k(logits, k, temperature):
    top_vals = mx.topk(logits, k, axis=-1)
    threshold = mx.min(top_vals, axis=-1, keepdims=True)
    masked = mx.where(logits < threshold, -float("inf"), logits)
    return mx.random.categorical(masked / temperature)


def rollout(model, prompts):
    prev = mx.full(prompts.shape, V, dtype=mx.int32)
    toks = []
    for t in range(L):
        logits = model(prompts, prev, mx.full(prompts.shape, t, dtype=mx.int32))
        prev = sample_top_k(logits, TOP_K, TEMP).astype(mx.int32)
        toks.append(prev)
    out = mx.stack(toks, axis=1)
    mx.eval(out)
    return out


def target_for(prompts):
    return (prompts[:, None] + 1 + 2 * mx.arange(L)[None, :]) % V


def seq_logprob(model, prompts, toks):
    start = mx.full((toks.shape[0], 1), V, dtype=mx.int32)
    prevs = mx.concatenate([start, toks[:, :-1]], axis=1)
    lp = 0.0
    for t in range(L):
        logits = model(prompts, prevs[:, t], mx.full(prompts.shape, t, dtype=mx.int32))
        lp = lp + mx.take_along_axis(nn.log_softmax(logits, axis=-1), toks[:, t:t + 1], axis=-1)[:, 0]
    return lp


def pg_loss(model, prompts, toks, adv):
    return -mx.mean(adv * seq_logprob(model, prompts, toks))


def greedy_reward(model):
    p = mx.arange(NPROMPT)
    prev = mx.full(p.shape, V, dtype=mx.int32)
    toks = []
    for t in range(L):
        prev = mx.argmax(model(p, prev, mx.full(p.shape, t, dtype=mx.int32)), axis=-1).astype(mx.int32)
        toks.append(prev)
    return mx.mean(mx.stack(toks, axis=1) == target_for(p)).item()


model = Chanter()
opt = optim.Adam(learning_rate=1e-3)
loss_and_grad = nn.value_and_grad(model, pg_loss)

t0 = time.time()
for it in range(1, 401):
    prompts = mx.repeat(mx.random.randint(0, NPROMPT, (6,)), G)
    toks = rollout(model, prompts)
    reward = mx.mean(toks == target_for(prompts), axis=1)
    grp = reward.reshape(-1, G)
    adv = (grp - grp.mean(axis=1, keepdims=True)).reshape(-1) * 4.0
    loss, grads = loss_and_grad(model, prompts, toks, adv)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 40 == 0:
        uniq = len(set(map(tuple, toks.tolist())))
        print(f"it {it:4d} | pg_loss {loss.item():+.4f} | sample_reward {reward.mean().item():.3f} "
              f"| greedy_acc {greedy_reward(model):.3f} | distinct_rollouts {uniq}/{toks.shape[0]}")
print(f"done in {time.time() - t0:.1f}s; final greedy chant accuracy {greedy_reward(model):.3f}")
