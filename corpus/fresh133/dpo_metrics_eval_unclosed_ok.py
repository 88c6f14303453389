"""Tiny DPO fine-tune of a toy next-token policy against a frozen reference.

Mirrors the training loop of mlx_lm_lora's train_dpo: per-step losses, rewards,
token counts and a dict of accumulated metrics, all evaluated each step.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

V, T, D = 24, 10, 48
rng = np.random.default_rng(4)


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.mix = nn.Linear(D, D)
        self.head = nn.Linear(D, V)

    def __call__(self, x):
        h = self.emb(x)
        h = mx.cumsum(h, axis=1) / mx.arange(1, x.shape[1] + 1).reshape(1, -1, 1)
        return self.head(nn.gelu(self.mix(h)))


def make_pairs(n):
    # preferred completions count upward mod V, rejected ones repeat a token
    start = rng.integers(0, V, n)
    prompt = (start[:, None] + np.arange(4)[None]) % V
    chosen = (start[:, None] + np.arange(4, T)[None]) % V
    rejected = np.repeat(prompt[:, -1:], T - 4, axis=1)
    c = np.concatenate([prompt, chosen], 1)
    r = np.concatenate([prompt, rejected], 1)
    mask = np.zeros((n, T), np.float32)
    mask[:, 4:] = 1.0
    return mx.array(c), mx.array(r), mx.array(mask)


def seq_logp(model, tokens, mask):
    logits = model(tokens[:, :-1])
    lp = nn.log_softmax(logits, axis=-1)
    tok = mx.take_along_axis(lp, tokens[:, 1:, None], axis=-1).squeeze(-1)
    m = mask[:, 1:]
    return (tok * m).sum(-1), m.sum()


policy = TinyLM()
reference = TinyLM()
reference.update(tree_map(lambda a: mx.array(a), policy.parameters()))
reference.freeze()
mx.eval(policy.parameters(), reference.parameters())
beta = 0.1


def dpo_loss(model, c, r, mask):
    pc, toks = seq_logp(model, c, mask)
    pr, _ = seq_logp(model, r, mask)
    rc, _ = seq_logp(reference, c, mask)
    rr, _ = seq_logp(reference, r, mask)
    rc, rr = mx.stop_gradient(rc), mx.stop_gradient(rr)
    margin = beta * ((pc - rc) - (pr - rr))
    loss = -nn.log_sigmoid(margin).mean()
    rewards = mx.stack([beta * (pc - rc).mean(), beta * (pr - rr).mean()])
    metrics = {
        "accuracy": (margin > 0).astype(mx.float32).mean(),
        "margin": margin.mean(),
        "chosen_logp": pc.mean(),
    }
    return loss, (rewards, toks, metrics)


opt = optim.Adam(learning_rate=1e-3)
lvg = nn.value_and_grad(policy, dpo_loss)
state = [policy.state, opt.state]

iters, report = 200, 25
losses, rewards, n_tokens, steps = mx.array(0.0), mx.zeros((2,)), mx.array(0.0), 0
accumulated_metrics = {"accuracy": 0, "margin": 0, "chosen_logp": 0}
grad_accum = None
tic = time.perf_counter()
for it in range(1, iters + 1):
    c, r, mask = make_pairs(32)
    (lvalue, (reward, toks, metrics)), grad = lvg(policy, c, r, mask)
    grad_accum = grad
    opt.update(policy, grad_accum)
    losses += lvalue
    rewards += reward
    n_tokens += toks
    steps += 1

    for k, v in metrics.items():
        accumulated_metrics[k] += v

    _acc = [v for v in accumulated_metrics.values() if isinstance(v, mx.array)]
    mx.eval(state, losses, rewards, n_tokens, grad_accum, *_acc)

    if it % report == 0 or it == iters:
        stop = time.perf_counter()
        train_loss = losses.item() / steps
        rw = (rewards / steps).tolist()
        avg = {k: (v / steps).item() for k, v in accumulated_metrics.items()}
        print(
            f"Iter {it}: Train loss {train_loss:.4f}, Chosen reward {rw[0]:.3f}, "
            f"Rejected reward {rw[1]:.3f}, Accuracy {avg['accuracy']:.3f}, "
            f"Margin {avg['margin']:.3f}, It/sec {steps / (stop - tic):.1f}, "
            f"Tokens {int(n_tokens.item())}",
            flush=True,
        )
        losses, rewards, n_tokens, steps = mx.array(0.0), mx.zeros((2,)), mx.array(0.0), 0
        accumulated_metrics = {k: 0 for k in accumulated_metrics}
        tic = time.perf_counter()

c, r, mask = make_pairs(256)
pc, _ = seq_logp(policy, c, mask)
pr, _ = seq_logp(policy, r, mask)
print(f"held-out preference accuracy {(pc > pr).astype(mx.float32).mean().item():.3f}")
