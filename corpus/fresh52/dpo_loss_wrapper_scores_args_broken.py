"""Toy DPO: teach a tiny next-token model to prefer 'counting up' continuations.

Policy and reference are the same small causal model (embedding -> GRU-free
mixing MLP -> vocab logits over a 24-token vocabulary). Chosen sequences count
up by one (mod 24), rejected ones jump randomly. The reference stays frozen.
"""
import copy
import json
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

V, D, T, BETA = 24, 48, 10, 0.5


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.mix = nn.Sequential(nn.Linear(2 * D, 96), nn.GELU(), nn.Linear(96, D))
        self.head = nn.Linear(D, V)

    def __call__(self, tokens):
        e = self.emb(tokens)
        prev = mx.concatenate([mx.zeros_like(e[:, :1]), e[:, :-1]], axis=1)
        return self.head(self.mix(mx.concatenate([e, prev], axis=-1)))


def seq_logp(model, tokens, mask):
    logits = model(tokens[:, :-1])
    lp = nn.log_softmax(logits, axis=-1)
    tok_lp = mx.take_along_axis(lp, tokens[:, 1:, None], axis=-1).squeeze(-1)
    return (tok_lp * mask[:, 1:]).sum(axis=-1)


def dpo_loss(pc, pr, rc, rr):
    margin = BETA * ((pc - rc) - (pr - rr))
    loss = -nn.log_sigmoid(margin).mean()
    acc = (margin > 0).astype(mx.float32).mean()
    return loss, acc


def make_pairs(n, rng):
    start = rng.integers(0, V, size=(n, 1))
    chosen = (start + np.arange(T)[None, :]) % V
    rejected = chosen.copy()
    for row in rejected:  # near miss: two positions after the first get a wrong token
        pos = rng.choice(np.arange(1, T), size=2, replace=False)
        row[pos] = (row[pos] + rng.integers(1, V, size=2)) % V
    lens = rng.integers(5, T + 1, size=n)
    mask = (np.arange(T)[None, :] < lens[:, None]).astype(np.float32)
    return (mx.array(chosen, dtype=mx.int32), mx.array(rejected, dtype=mx.int32),
            mx.array(mask), mx.array(mask))


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    policy = TinyLM()
    mx.eval(policy.parameters())
    reference = copy.deepcopy(policy)
    reference.freeze()
    optimizer = optim.AdamW(learning_rate=3e-4, weight_decay=0.0)

    def loss_wrapper(policy_chosen, policy_rejected, ref_chosen, ref_rejected):
        return dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected)

    loss_value_and_grad = nn.value_and_grad(policy, loss_wrapper)
    state = [policy.state, optimizer.state]

    @partial(mx.compile, inputs=state + [reference.state], outputs=state)
    def step(chosen, rejected, chosen_mask, rejected_mask):
        policy_chosen = seq_logp(policy, chosen, chosen_mask)
        policy_rejected = seq_logp(policy, rejected, rejected_mask)
        ref_chosen = mx.stop_gradient(seq_logp(reference, chosen, chosen_mask))
        ref_rejected = mx.stop_gradient(seq_logp(reference, rejected, rejected_mask))
        (loss, acc), grads = loss_value_and_grad(policy_chosen, policy_rejected, ref_chosen, ref_rejected)
        optimizer.update(policy, grads)
        return loss, acc

    val = make_pairs(512, rng)
    t0 = time.time()
    for it in range(1, 401):
        batch = make_pairs(64, rng)
        loss, acc = step(*batch)
        mx.eval(state, loss, acc)
        if it == 1 or it % 40 == 0:
            pc, pr = seq_logp(policy, val[0], val[2]), seq_logp(policy, val[1], val[3])
            rc, rr = seq_logp(reference, val[0], val[2]), seq_logp(reference, val[1], val[3])
            vloss, vacc = dpo_loss(pc, pr, rc, rr)
            vc = pc - rc
            print(json.dumps({"iter": it, "train_dpo_loss": round(loss.item(), 4), "train_reward_acc": round(acc.item(), 3),
                              "val_dpo_loss": round(vloss.item(), 4), "val_reward_acc": round(vacc.item(), 3),
                              "val_chosen_logratio": round(vc.mean().item(), 3), "secs": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
