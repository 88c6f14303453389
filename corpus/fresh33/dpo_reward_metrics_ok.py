# Tiny DPO: a bag-of-tokens "policy" learns to prefer chosen over rejected sequences,
# against a frozen copy of itself as reference model.
import copy, json, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
V, L, B = 32, 12, 16
BETA = 0.1

class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 32)
        self.mix = nn.Linear(32, 32)
        self.out = nn.Linear(32, V)
    def __call__(self, x):
        h = self.emb(x)
        h = mx.cumsum(h, axis=1) / mx.arange(1, x.shape[1] + 1)[None, :, None]
        return self.out(nn.relu(self.mix(h)))

def make_pairs(n):
    # chosen sequences use "even" tokens, rejected use "odd" tokens after a shared prompt
    prompt = mx.random.randint(0, V, (n, 4))
    even = 2 * mx.random.randint(0, V // 2, (n, L - 4))
    odd = even + 1
    return mx.concatenate([prompt, even], 1), mx.concatenate([prompt, odd], 1)

def seq_logp(model, toks):
    logits = model(toks[:, :-1])
    lp = nn.log_softmax(logits, axis=-1)
    per_tok = mx.take_along_axis(lp, toks[:, 1:, None], axis=-1).squeeze(-1)
    mask = mx.arange(L - 1)[None, :] >= 3          # only score the completion
    return mx.where(mask, per_tok, 0.0).sum(axis=-1)

policy = TinyLM()
mx.eval(policy.parameters())
ref = copy.deepcopy(policy)
ref.freeze()

def dpo_loss(model, chosen, rejected):
    pc, pr = seq_logp(model, chosen), seq_logp(model, rejected)
    rc, rr = mx.stop_gradient(seq_logp(ref, chosen)), mx.stop_gradient(seq_logp(ref, rejected))
    chosen_rewards = BETA * (pc - rc)
    rejected_rewards = BETA * (pr - rr)
    losses = -nn.log_sigmoid(chosen_rewards - rejected_rewards)
    reward_accuracies = chosen_rewards > rejected_rewards
    metrics = {
        "rewards/chosen": chosen_rewards.mean(),
        "rewards/rejected": rejected_rewards.mean(),
        "rewards/accuracies": reward_accuracies.mean(),
        "rewards/margins": (chosen_rewards - rejected_rewards).mean(),
    }
    return losses.mean(), metrics

opt = optim.Adam(learning_rate=1e-3)
step = nn.value_and_grad(policy, dpo_loss)
t0 = time.time()
for it in range(1, 401):
    c, r = make_pairs(B)
    (loss, metrics), grads = step(policy, c, r)
    opt.update(policy, grads)
    mx.eval(policy.parameters(), opt.state, loss, metrics)
    if it % 40 == 0 or it == 1:
        rec = {"it": it, "loss": round(loss.item(), 4)}
        rec.update({k: round(v.item(), 4) for k, v in metrics.items()})
        rec["sec"] = round(time.time() - t0, 2)
        print(json.dumps(rec), flush=True)
