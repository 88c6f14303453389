# DPO on "even digit" strings: a tiny next-digit LM is pushed to prefer even-digit continuations.
# Compiled train step, a wandb-like logger stub, validation at the end of every epoch.
import time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

np.random.seed(7)
mx.random.seed(7)
V, L = 12, 10            # digits 0-9, BOS=10, PAD=11

class Logger:
    def __init__(self):
        self.step = 0
    def log(self, d):
        self.step += 1
        if "val_loss" in d or self.step % 50 == 0 or self.step == 1:
            print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in d.items()), flush=True)

class DigitLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 48)
        self.pos = nn.Embedding(L, 48)
        self.ff = nn.Sequential(nn.Linear(48, 96), nn.GELU(), nn.Linear(96, V))
    def __call__(self, x):
        h = self.emb(x) + self.pos(mx.arange(x.shape[1]))[None]
        h = mx.cumsum(h, axis=1) / mx.arange(1, x.shape[1] + 1)[None, :, None]
        return self.ff(h)

def make_entries(n):
    out = []
    for _ in range(n):
        k = np.random.randint(2, 5)
        prompt = [10] + list(np.random.randint(0, 10, k))
        m = L - len(prompt)
        chosen = prompt + list(2 * np.random.randint(0, 5, m))
        rejected = prompt + list(2 * np.random.randint(0, 5, m) + 1)
        out.append((chosen, rejected, len(prompt)))
    return out

def iterate_batches(entries, bs, shuffle):
    idx = np.random.permutation(len(entries)) if shuffle else np.arange(len(entries))
    for i in range(0, len(idx) - bs + 1, bs):
        b = [entries[j] for j in idx[i:i + bs]]
        x = mx.array(np.array([c for c, _, _ in b] + [r for _, r, _ in b], dtype=np.int32))
        plen = mx.array(np.array([p for _, _, p in b] * 2, dtype=np.int32))
        yield x, plen

def seq_logps(model, x, plen):
    lp = nn.log_softmax(model(x[:, :-1]), axis=-1)
    tok = mx.take_along_axis(lp, x[:, 1:, None], axis=-1).squeeze(-1)
    mask = mx.arange(1, L)[None, :] >= plen[:, None]
    return (tok * mask).sum(-1), mask.sum()

policy = DigitLM()
reference = DigitLM()
mx.eval(policy.parameters())
reference.update(policy.parameters())
reference.freeze()
BETA = 0.1

def dpo_loss(model, x, plen):
    lp, ntoks = seq_logps(model, x, plen)
    rlp, _ = seq_logps(reference, x, plen)
    rlp = mx.stop_gradient(rlp)
    n = x.shape[0] // 2
    pi = lp[:n] - lp[n:]
    ref = rlp[:n] - rlp[n:]
    loss = -nn.log_sigmoid(BETA * (pi - ref)).mean()
    reward = mx.stack([BETA * (lp[:n] - rlp[:n]).mean(), BETA * (lp[n:] - rlp[n:]).mean()])
    return loss, reward, ntoks

train_set, valid_set = make_entries(3200), make_entries(320)
optimizer = optim.Adam(learning_rate=1e-4)
loss_value_and_grad = nn.value_and_grad(policy, dpo_loss)
state = [policy.state, optimizer.state]

@partial(mx.compile, inputs=state + [reference.state], outputs=state)
def step(x, plen):
    (loss, reward, ntoks), grad = loss_value_and_grad(policy, x, plen)
    optimizer.update(policy, grad)
    return loss, reward, ntoks

def evaluate(entries, bs):
    all_losses, ntokens = [], 0
    for x, plen in iterate_batches(entries, bs, False):
        loss, _, toks = dpo_loss(policy, x, plen)
        all_losses.append(loss.item() * toks.item())
        ntokens += toks.item()
    return np.sum(all_losses) / max(ntokens, bs)

logger = Logger()
BS = 16
for epoch in range(3):
    for it, (x, plen) in enumerate(iterate_batches(train_set, BS, True)):
        s_t = time.perf_counter()
        loss_value, reward, num_tokens = step(x, plen)
        mx.eval(state, loss_value, reward, num_tokens)
        logger.log({"epoch": epoch, "it": it, "loss": loss_value.item(),
                    "policy_reward": reward[0].item(), "rejected_reward": reward[1].item(),
                    "tokens_per_sec": num_tokens.item() / (time.perf_counter() - s_t)})
    val_loss = evaluate(valid_set, BS)
    logger.log({"val_loss": float(val_loss)})
