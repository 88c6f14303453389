"""Tiny DPO run: a bag-of-context next-token policy learns to prefer
'counting' continuations over shuffled ones, against a frozen reference."""
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

V, L, D = 12, 8, 32
BETA = 0.2
STEPS = 150
BATCH = 16


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.mix = nn.Linear(D, D)
        self.out = nn.Linear(D, V)

    def __call__(self, toks):
        h = self.emb(toks)
        # causal running mean of embeddings
        c = mx.cumsum(h, axis=1) / mx.arange(1, toks.shape[1] + 1)[None, :, None]
        return self.out(nn.gelu(self.mix(c)) + h)


def seq_logp(model, toks):
    logits = model(toks[:, :-1])
    lp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    tgt = mx.take_along_axis(lp, toks[:, 1:, None], axis=-1).squeeze(-1)
    return tgt.sum(axis=1)


def dpo_loss_fn(policy_model, reference_model, batch, beta):
    chosen, rejected = batch
    pc = seq_logp(policy_model, chosen)
    pr = seq_logp(policy_model, rejected)
    rc = mx.stop_gradient(seq_logp(reference_model, chosen))
    rr = mx.stop_gradient(seq_logp(reference_model, rejected))
    margin = beta * ((pc - rc) - (pr - rr))
    loss = -nn.log_sigmoid(margin).mean()
    acc = (margin > 0).astype(mx.float32).mean()
    return loss, acc


def make_batch(n):
    start = mx.random.randint(0, V, (n, 1))
    chosen = (start + mx.arange(L)[None, :]) % V
    rejected = mx.random.randint(0, V, (n, L))
    rejected = mx.concatenate([chosen[:, :1], rejected[:, 1:]], axis=1)
    return chosen, rejected


mx.random.seed(3)
policy_model = TinyLM()
mx.eval(policy_model.parameters())

# frozen reference = a snapshot of the starting policy
reference_model = TinyLM()
reference_model.update(policy_model.parameters())
reference_model.freeze()

optimizer = optim.Adam(learning_rate=4e-4)


def loss_fn(model, batch):
    return dpo_loss_fn(model, reference_model, batch, BETA)


loss_and_grad = nn.value_and_grad(policy_model, loss_fn)

state = [
    policy_model.state,
    optimizer.state,
    mx.random.state,
    reference_model.state,
]


@partial(mx.compile, inputs=state, outputs=state)
def step(batch):
    (loss, acc), grads = loss_and_grad(policy_model, batch)
    optimizer.update(policy_model, grads)
    return loss, acc


print(f"dpo: vocab={V} len={L} beta={BETA} steps={STEPS}")
for it in range(1, STEPS + 1):
    batch = make_batch(BATCH)
    loss, acc = step(batch)
    mx.eval(state, loss, acc)
    if it == 1 or it % 15 == 0:
        print(f"Iter {it:3d}: dpo loss {loss.item():.4f}, reward acc {acc.item():.3f}")

val = make_batch(256)
vl, va = dpo_loss_fn(policy_model, reference_model, val, BETA)
print(f"Val: dpo loss {vl.item():.4f}, reward acc {va.item():.3f}")
