# Preference tuning (CPO-style sigmoid loss) of a tiny next-token model on
# synthetic "chosen" vs "rejected" token sequences.
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
V, T, B = 16, 10, 32
BETA = 0.1


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 32)
        self.mix = nn.Linear(32, 32)
        self.out = nn.Linear(32, V)

    def __call__(self, x):
        h = nn.gelu(self.mix(self.emb(x)))
        return self.out(h)


def make_pairs(n):
    start = mx.random.randint(0, V, (n, 1))
    steps = mx.arange(T)[None, :]
    chosen = (start + steps) % V                      # "count upward" continuation
    rejected = mx.random.randint(0, V, (n, T))        # noise continuation
    rejected[:, 0] = chosen[:, 0]                     # same prompt token
    mask = mx.ones((n, T - 1))
    return chosen, rejected, mask


def get_token_scores(model, tokens, mask):
    logits = model(tokens[:, :-1])
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    tgt = mx.take_along_axis(logp, tokens[:, 1:, None], axis=-1).squeeze(-1)
    return tgt * mask


def compute_score(scores):
    return scores.sum(-1)


def cpo_loss(chosen_score, rejected_score):
    logits = chosen_score - rejected_score
    losses = -nn.log_sigmoid(BETA * logits)
    acc = mx.mean((chosen_score > rejected_score).astype(mx.float32))
    return mx.mean(losses), (acc, mx.mean(logits))


model = TinyLM()
mx.eval(model.parameters())
optimizer = optim.Adam(learning_rate=5e-4)


def loss_wrapper(model, chosen, rejected, mask):
    policy_chosen_score = compute_score(get_token_scores(model, chosen, mask))
    policy_rejected_score = compute_score(get_token_scores(model, rejected, mask))
    loss, aux = cpo_loss(policy_chosen_score, policy_rejected_score)
    return loss, aux


loss_value_and_grad = nn.value_and_grad(model, loss_wrapper)

t0 = time.time()
for it in range(1, 2001):
    chosen, rejected, mask = make_pairs(B)
    (loss, (acc, margin)), grads = loss_value_and_grad(
        model, chosen, rejected, mask
    )
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state, loss, acc, margin)
    if it == 1 or it % 100 == 0:
        print(json.dumps({"iter": it, "loss": round(loss.item(), 4),
                          "pref_acc": round(acc.item(), 3),
                          "margin": round(margin.item(), 3),
                          "sec": round(time.time() - t0, 2)}), flush=True)
