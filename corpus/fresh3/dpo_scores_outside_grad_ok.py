"""Tiny DPO fine-tune: a policy LM learns to prefer the 'chosen' continuation over the
'rejected' one relative to a frozen reference model."""
import copy

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

V, T, B, BETA = 32, 10, 16, 0.5


class LM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 32)
        self.mix = nn.Linear(32, 32)
        self.out = nn.Linear(32, V)

    def __call__(self, x):
        return self.out(nn.relu(self.mix(self.emb(x))))


def get_token_scores(model, seqs):
    logp = nn.log_softmax(model(seqs[:, :-1]), axis=-1)
    return mx.take_along_axis(logp, seqs[:, 1:, None], axis=-1).squeeze(-1).sum(-1)


def dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected):
    margin = BETA * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))
    loss = -nn.log_sigmoid(margin).mean()
    reward_acc = (margin > 0).mean()
    return loss, reward_acc


def make_pairs(key):
    prompt = mx.random.randint(0, V, (B, 1), key=key)
    chosen = (prompt + mx.arange(T)[None, :]) % V          # counts upward
    rejected = (prompt - mx.arange(T)[None, :]) % V        # counts downward
    return chosen, rejected


policy = LM()
reference = copy.deepcopy(policy)
reference.freeze()
opt = optim.Adam(learning_rate=1e-2)


def loss_on_scores(model, chosen, rejected, rc, rr):
    pc, pr = get_token_scores(model, chosen), get_token_scores(model, rejected)
    return dpo_loss(pc, pr, rc, rr)


loss_value_and_grad = nn.value_and_grad(policy, loss_on_scores)

key = mx.random.key(11)
print("step    loss   reward_acc")
for step in range(1, 301):
    key, sub = mx.random.split(key)
    chosen, rejected = make_pairs(sub)
    ref_c, ref_r = get_token_scores(reference, chosen), get_token_scores(reference, rejected)
    (loss, acc), grads = loss_value_and_grad(policy, chosen, rejected, ref_c, ref_r)
    opt.update(policy, grads)
    mx.eval(policy.parameters(), opt.state, loss, acc)
    if step % 30 == 0:
        print(f"{step:4d}  {loss.item():7.4f}  {acc.item():9.3f}")
