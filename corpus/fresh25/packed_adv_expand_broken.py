# Group-relative policy optimisation on a toy "answer then stop" task.
# Completions have variable length (the policy decides when to emit EOS); the
# valid tokens of all completions are packed into one flat token stream, and
# the per-episode advantages are expanded to per-token advantages.
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

V, D, MAX_TOKENS, EOS = 12, 64, 8, 0
GROUP, PROMPTS_PER_STEP, STEPS = 6, 8, 400
mx.random.seed(7)


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.p_emb = nn.Embedding(V, D)
        self.t_emb = nn.Embedding(V + 1, D)  # index V = BOS
        self.pos = nn.Embedding(MAX_TOKENS, D)
        self.out = nn.Sequential(nn.Linear(D, D), nn.GELU(), nn.Linear(D, V))

    def __call__(self, prompt, prev, pos):
        return self.out(self.p_emb(prompt) + self.t_emb(prev) + self.pos(pos))


def rollout(model, prompts):
    B = prompts.shape[0]
    prev = mx.full((B,), V, dtype=mx.int32)
    done = mx.zeros((B,), dtype=mx.bool_)
    toks, alive = [], []
    for t in range(MAX_TOKENS):
        logits = model(prompts, prev, mx.full((B,), t, dtype=mx.int32))
        tok = mx.random.categorical(logits)
        alive.append(~done)
        toks.append(tok)
        done = done | (tok == EOS)
        prev = tok
    toks, alive = mx.stack(toks, 1), mx.stack(alive, 1)
    mx.eval(toks, alive)
    return toks, alive


def rewards(prompts, toks, alive):
    out = []
    for p, row, a in zip(prompts.tolist(), toks.tolist(), alive.tolist()):
        want = (p * 5 + 3) % (V - 1) + 1
        k = 2 * (p % 4) + 1                      # required answer length
        target = [want] * k + [EOS]
        comp = [t for t, ok in zip(row, a) if ok]
        hits = sum(1 for i, t in enumerate(target) if i < len(comp) and comp[i] == t)
        r = hits / len(target) - 0.1 * abs(len(comp) - len(target))
        out.append(r)
    return out


def pack(prompts, toks, alive):
    """Flatten the valid tokens of every episode into one stream."""
    P, T, PREV, POS, lengths = [], [], [], [], []
    for p, row, a in zip(prompts.tolist(), toks.tolist(), alive.tolist()):
        n = 0
        prev = V
        for t, (tok, ok) in enumerate(zip(row, a)):
            if not ok:
                break
            P.append(p); T.append(tok); PREV.append(prev); POS.append(t)
            prev = tok
            n += 1
        lengths.append(n)
    arr = lambda x: mx.array(x, dtype=mx.int32)
    return arr(P), arr(T), arr(PREV), arr(POS), lengths


def loss_fn(model, P, T, PREV, POS, tok_adv):
    logp = nn.log_softmax(model(P, PREV, POS), axis=-1)
    lp = mx.take_along_axis(logp, T[:, None], axis=-1).squeeze(-1)
    return -(tok_adv * lp).mean()


model = Policy()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=1e-3, weight_decay=0.0)
vg = nn.value_and_grad(model, loss_fn)

t0 = time.time()
hist = []
for step in range(1, STEPS + 1):
    base = mx.random.randint(1, V, (PROMPTS_PER_STEP,))
    prompts = mx.repeat(base, GROUP)
    toks, alive = rollout(model, prompts)
    r = mx.array(rewards(prompts, toks, alive))
    rg = r.reshape(-1, GROUP)
    adv = ((rg - rg.mean(1, keepdims=True)) / (rg.std(1, keepdims=True) + 1e-4)).reshape(-1)
    P, T, PREV, POS, lengths = pack(prompts, toks, alive)
    num_episodes, total_tokens = adv.shape[0], T.shape[0]
    # spread the tokens as evenly as possible over the episodes
    base_length, remainder = divmod(total_tokens, num_episodes)
    action_lengths = [base_length + (1 if i < remainder else 0) for i in range(num_episodes)]
    tok_adv = mx.concatenate([mx.full((n,), a) for a, n in zip(adv.tolist(), action_lengths)])
    loss, g = vg(model, P, T, PREV, POS, tok_adv)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    hist.append(r.mean().item())
    if step % 20 == 0:
        print(json.dumps({
            "step": step,
            "loss": round(loss.item(), 5),
            "reward_mean_20": round(sum(hist[-20:]) / 20, 4),
            "mean_len": round(total_tokens / num_episodes, 2),
            "t": round(time.time() - t0, 1),
        }))
