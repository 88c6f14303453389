"""Direct Preference Optimization on a toy token policy.

Chosen responses count upward (t, t+1, t+2, ...); rejected responses are
random tokens. The policy is trained against a frozen reference copy.
"""
import copy
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB, DIM, RESP_LEN, BATCH = 24, 48, 8, 32
mx.random.seed(11)


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, DIM)
        self.mlp = nn.Sequential(nn.Linear(DIM, DIM), nn.GELU(), nn.Linear(DIM, VOCAB))

    def __call__(self, tokens):
        return self.mlp(self.emb(tokens))


def sequence_logps(model, seqs):
    logits = model(seqs[:, :-1])
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    tok = mx.take_along_axis(logp, seqs[:, 1:, None], axis=-1).squeeze(-1)
    return tok.sum(axis=1)


def make_pairs(n):
    start = mx.random.randint(0, VOCAB, (n, 1))
    chosen = (start + mx.arange(RESP_LEN + 1)[None, :]) % VOCAB
    rejected = mx.concatenate([start, mx.random.randint(0, VOCAB, (n, RESP_LEN))], axis=1)
    return chosen, rejected


def dpo_loss(policy, reference, chosen, rejected, beta=0.1):
    chosen_logps = sequence_logps(policy, chosen)
    rejected_logps = sequence_logps(policy, rejected)
    chosen_ref_logps = mx.stop_gradient(sequence_logps(reference, chosen))
    rejected_ref_logps = mx.stop_gradient(sequence_logps(reference, rejected))
    chosen_rewards = beta * (chosen_logps - chosen_ref_logps)
    rejected_rewards = beta * (rejected_logps - rejected_ref_logps)
    loss = -nn.losses.log_sigmoid(chosen_rewards - rejected_rewards)
    return mx.mean(loss)


policy = Policy()
mx.eval(policy.parameters())
reference = copy.deepcopy(policy)
reference.freeze()

opt = optim.Adam(learning_rate=2e-4)
loss_and_grad = nn.value_and_grad(policy, lambda m, c, r: dpo_loss(m, reference, c, r))

t0 = time.time()
for step in range(1, 401):
    chosen, rejected = make_pairs(BATCH)
    loss, grads = loss_and_grad(policy, chosen, rejected)
    opt.update(policy, grads)
    mx.eval(loss, policy.parameters(), opt.state)
    if step % 25 == 0:
        margin = (sequence_logps(policy, chosen) - sequence_logps(policy, rejected)).mean()
        print(json.dumps({"step": step, "dpo_loss": round(loss.item(), 5),
                          "logp_margin": round(margin.item(), 3),
                          "elapsed_s": round(time.time() - t0, 2)}))
