# DPO on a tiny arithmetic LM: prompt "a+b=", chosen = right digit, rejected = a wrong digit.
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(0)
mx.random.seed(0)

VOCAB = list("0123456789+=") + ["<eos>", "<pad>"]
STOI = {c: i for i, c in enumerate(VOCAB)}
EOS, PAD = STOI["<eos>"], STOI["<pad>"]
V = len(VOCAB)
SEQ = 6  # a + b = c <eos>


def encode(prompt, answer):
    return [STOI[c] for c in prompt] + [STOI[answer], EOS]


def make_pair():
    a, b = random.randrange(10), random.randrange(10)
    good = str((a + b) % 10)
    bad = str(random.choice([d for d in range(10) if str(d) != good]))
    p = f"{a}+{b}="
    return encode(p, good), encode(p, bad)


pairs = [make_pair() for _ in range(2000)]
PROMPT_LEN = 4


class TinyLM(nn.Module):
    def __init__(self, dim=64):
        super().__init__()
        self.tok = nn.Embedding(V, dim)
        self.pos = nn.Embedding(SEQ, dim)
        self.block = nn.TransformerEncoderLayer(dim, 4, 4 * dim)
        self.out = nn.Linear(dim, V)

    def __call__(self, x):
        L = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(L))
        h = self.block(h, nn.MultiHeadAttention.create_additive_causal_mask(L))
        return self.out(h)


def completion_logps(model, ids):
    """Sum of log-probs of the completion tokens (answer + eos)."""
    logits = model(ids[:, :-1])
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    tgt = ids[:, 1:]
    tok_lp = mx.take_along_axis(logp, tgt[..., None], axis=-1).squeeze(-1)
    mask = (mx.arange(SEQ - 1) >= PROMPT_LEN - 1).astype(tok_lp.dtype)
    return (tok_lp * mask).sum(axis=1)


def dpo_loss(model, chosen, rejected, ref_chosen, ref_rejected, beta=0.1):
    pi_c = completion_logps(model, chosen)
    pi_r = completion_logps(model, rejected)
    if ref_chosen is None or ref_rejected is None:
        # no separate reference model: use the current policy (no grad) as reference
        ref_chosen = mx.stop_gradient(pi_c)
        ref_rejected = mx.stop_gradient(pi_r)
    chosen_reward = beta * (pi_c - ref_chosen)
    rejected_reward = beta * (pi_r - ref_rejected)
    logits = chosen_reward - rejected_reward
    loss = -nn.log_sigmoid(logits).mean()
    acc = (chosen_reward > rejected_reward).astype(mx.float32).mean()
    return loss, (acc, (chosen_reward - rejected_reward).mean(), pi_c.mean())


model = TinyLM()
mx.eval(model.parameters())

chosen_all = mx.array([c for c, _ in pairs])
rejected_all = mx.array([r for _, r in pairs])
# frozen reference = the starting policy, log-probs precomputed once
ref_chosen_all = completion_logps(model, chosen_all)
ref_rejected_all = completion_logps(model, rejected_all)
mx.eval(ref_chosen_all, ref_rejected_all)

opt = optim.AdamW(learning_rate=optim.cosine_decay(1e-3, 300))
loss_and_grad = nn.value_and_grad(model, dpo_loss)

print(f"{'iter':>5} | {'loss':>8} | {'acc':>5} | {'margin':>8} | {'logps/chosen':>12} | {'s':>5}")
print("-" * 60)
t0 = time.time()
bs = 64
for it in range(1, 301):
    idx = mx.array(random.sample(range(len(pairs)), bs))
    c, r = chosen_all[idx], rejected_all[idx]
    rc = None if ref_chosen_all is None else ref_chosen_all[idx]
    rr = None if ref_rejected_all is None else ref_rejected_all[idx]
    (loss, (acc, margin, lpc)), grads = loss_and_grad(model, c, r, rc, rr)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, acc, margin, lpc)
    if it % 20 == 0 or it == 1:
        print(f"{it:5d} | {loss.item():8.4f} | {acc.item():5.2f} | {margin.item():8.4f} | "
              f"{lpc.item():12.4f} | {time.time()-t0:5.1f}", flush=True)

# held-out check: how often is the right digit the argmax?
test = [make_pair() for _ in range(500)]
x = mx.array([c for c, _ in test])
pred = mx.argmax(model(x[:, :PROMPT_LEN])[:, -1], axis=-1)
print(f"greedy answer accuracy: {(pred == x[:, PROMPT_LEN]).astype(mx.float32).mean().item():.3f}")
