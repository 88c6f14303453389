"""ORPO-style preference fine-tune of a tiny LM: prefer the chosen over the rejected reply.

Reproduces Goekdeniz-Guelmez/mlx-lm-lora#68 ("ORPO training produces a structurally-zero
gradient: get_logps() is called outside the value_and_grad-differentiated closure"): the
forward pass runs before nn.value_and_grad's function and only its numbers are passed in, so
every gradient is exactly zero -- the logged loss/rewards vary per batch while the weights
stay byte-identical. The fix moves get_logps(model, ...) inside loss_wrapper.
"""

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(6)
V, L, D, BETA = 16, 12, 48, 0.2


def make_pairs(n):
    """Chosen replies count upward (t, t+1, ...); rejected ones have 3 tokens corrupted."""
    start = mx.random.randint(0, V, (n, 1))
    chosen = (start + mx.arange(L)[None, :]) % V
    noise = mx.random.randint(0, V, (n, L))
    hit = mx.argsort(mx.random.uniform(shape=(n, L)), axis=1) < 3
    rejected = mx.where(hit, noise, chosen)
    return chosen, rejected


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.mix = nn.Linear(D, D)
        self.out = nn.Linear(D, V)

    def __call__(self, x):
        return self.out(nn.silu(self.mix(self.emb(x))))


def get_logps(model, seqs):
    logits = model(seqs[:, :-1])
    lp = -nn.losses.cross_entropy(logits, seqs[:, 1:])
    return lp.mean(axis=1)


def orpo_loss(chosen_logps, rejected_logps):
    log_odds = (chosen_logps - rejected_logps) - (
        mx.log1p(-mx.exp(chosen_logps)) - mx.log1p(-mx.exp(rejected_logps)))
    ratio = -nn.log_sigmoid(log_odds)
    nll = -chosen_logps
    loss = (nll + BETA * ratio).mean()
    return loss, (BETA * chosen_logps).mean(), (BETA * rejected_logps).mean()


model = TinyLM()
opt = optim.Adam(learning_rate=3e-4)


def loss_wrapper(chosen, rejected):
    chosen_logps = get_logps(model, chosen)
    rejected_logps = get_logps(model, rejected)
    loss, _, _ = orpo_loss(chosen_logps, rejected_logps)
    return loss


loss_value_and_grad = nn.value_and_grad(model, loss_wrapper)
for it in range(1, 301):
    chosen, rejected = make_pairs(32)
    chosen_logps = get_logps(model, chosen)
    rejected_logps = get_logps(model, rejected)
    lvalue, grad = loss_value_and_grad(chosen, rejected)
    opt.update(model, grad)
    _, chosen_r, rejected_r = orpo_loss(chosen_logps, rejected_logps)
    mx.eval(model.parameters(), opt.state, lvalue, chosen_r, rejected_r)
    if it % 15 == 0:
        acc = (chosen_logps > rejected_logps).astype(mx.float32).mean().item()
        print(f"Iter {it}: Train loss {lvalue.item():.3f}, Chosen reward {chosen_r.item():.3f}, "
              f"Rejected reward {rejected_r.item():.3f}, "
              f"Margin {(chosen_r - rejected_r).item():.3f}, Accuracy {acc:.3f}", flush=True)
