"""Preference tuning (DPO-style) of a tiny next-token policy against a frozen reference.

Chosen sequences count upward mod V, rejected ones are random walks.
"""
import copy
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

V, L, B = 10, 7, 32
BETA = 0.05
mx.random.seed(11)


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 32)
        self.mlp = nn.Sequential(nn.Linear(32, 64), nn.SiLU(), nn.Linear(64, V))

    def __call__(self, toks):
        return self.mlp(self.emb(toks))


def seq_logps(model, seqs):
    logits = model(seqs[:, :-1])
    lp = nn.log_softmax(logits, axis=-1)
    tok_lp = mx.take_along_axis(lp, seqs[:, 1:, None], axis=-1).squeeze(-1)
    return tok_lp.sum(axis=-1)


def make_pairs(n):
    start = mx.random.randint(0, V, (n, 1))
    chosen = (start + mx.arange(L)[None, :]) % V
    rejected = mx.concatenate([start, mx.random.randint(0, V, (n, L - 1))], axis=1)
    return chosen, rejected


def dpo_loss(model, chosen, rejected, ref_c, ref_r):
    pc = seq_logps(model, chosen)
    pr = seq_logps(model, rejected)
    chosen_reward = BETA * (pc - ref_c)
    rejected_reward = BETA * (pr - ref_r)
    losses = -nn.log_sigmoid(chosen_reward - rejected_reward)
    reward = mx.stack([chosen_reward.mean(), rejected_reward.mean()])
    metrics = {
        "accuracy": (chosen_reward > rejected_reward).astype(mx.float32).mean(),
        "margin": (chosen_reward - rejected_reward).mean(),
    }
    toks = mx.array(chosen.size + rejected.size)
    return losses.mean(), reward, toks, metrics


policy = Policy()
mx.eval(policy.parameters())
reference = copy.deepcopy(policy)
reference.freeze()

opt = optim.AdamW(learning_rate=4e-4, weight_decay=0.01)
loss_and_grad = nn.value_and_grad(policy, dpo_loss)


def step(chosen, rejected):
    ref_c = mx.stop_gradient(seq_logps(reference, chosen))
    ref_r = mx.stop_gradient(seq_logps(reference, rejected))
    (lvalue, reward, toks, metrics), grad = loss_and_grad(policy, chosen, rejected, ref_c, ref_r)
    opt.update(policy, grad)
    return lvalue, toks, metrics


xc, xr = make_pairs(256)
print("| step |   loss | chosen_r | rejected_r |  acc | held-out P(chosen>rej) |")
print("|------|--------|----------|------------|------|------------------------|")
t0 = time.time()
agg = {"accuracy": 0.0, "margin": 0.0}
rewards = mx.zeros((2,))
for it in range(1, 401):
    c, r = make_pairs(B)
    lvalue, reward, toks, metrics = step(c, r)
    rewards = rewards + reward
    mx.eval(policy.parameters(), opt.state, lvalue, rewards)
    for k in agg:
        agg[k] += metrics[k].item()
    if it % 40 == 0:
        pc = seq_logps(policy, xc) - seq_logps(reference, xc)
        pr = seq_logps(policy, xr) - seq_logps(reference, xr)
        held = (pc > pr).astype(mx.float32).mean().item()
        rw = (rewards / 40).tolist()
        print(f"| {it:4d} | {lvalue.item():6.4f} | {rw[0]:8.3f} | {rw[1]:10.3f} | {agg['accuracy']/40:4.2f} | {held:22.3f} |")
        agg = {k: 0.0 for k in agg}
        rewards = mx.zeros((2,))
print(f"finished in {time.time() - t0:.1f}s")
