# Preference tuning of a tiny bigram LM with the DiscoPOP loss (DPO family).
# Stage 1: SFT the policy on "verbose" sequences (chain B).
# Stage 2: DiscoPOP preference step, chosen = "terse" chain A, rejected = chain B.
# Reference log-probs come from the base checkpoint (before SFT), as in the recipe.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)
V, T, B = 12, 64, 16
BETA, TAU = 0.5, 0.05


def make_chain(key):
    succ = mx.random.permutation(V, key=key)
    P = mx.full((V, V), 0.15 / (V - 1))
    P = mx.where(mx.arange(V)[None, :] == succ[:, None], 0.85, P)
    return mx.log(P)


kA, kB = mx.random.split(mx.random.key(11))
logP_A, logP_B = make_chain(kA), make_chain(kB)


def sample(logP, n):
    x = mx.random.randint(0, V, (n,))
    toks = [x]
    for _ in range(T - 1):
        x = mx.random.categorical(logP[x])
        toks.append(x)
    return mx.stack(toks, axis=1)


class Bigram(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 32)
        self.out = nn.Linear(32, V)

    def __call__(self, x):
        return self.out(nn.gelu(self.emb(x)))


def seq_logp(model, toks):
    lp = nn.log_softmax(model(toks[:, :-1]), axis=-1)
    tok_lp = mx.take_along_axis(lp, toks[:, 1:, None], axis=-1).squeeze(-1)
    return tok_lp.sum(axis=1)


base = Bigram()
mx.eval(base.parameters())
policy = Bigram()
policy.update(base.parameters())
mx.eval(policy.parameters())

# ---- stage 1: SFT on chain B ----
def sft_loss(model, toks):
    return -seq_logp(model, toks).mean() / (T - 1)

sft_opt = optim.Adam(learning_rate=1e-2)
sft_step = nn.value_and_grad(policy, sft_loss)
for it in range(120):
    l, g = sft_step(policy, sample(logP_B, B))
    sft_opt.update(policy, g)
    mx.eval(policy.parameters(), sft_opt.state, l)
print(f"[sft] done, nll/token {l.item():.4f}")

# ---- stage 2: DiscoPOP ----
base.freeze()


def discopop_loss(model, chosen, rejected, ref_c, ref_r):
    pi_c = seq_logp(model, chosen)
    pi_r = seq_logp(model, rejected)
    logits = BETA * ((pi_c - pi_r) - (ref_c - ref_r))
    mod = mx.sigmoid(logits / TAU)
    logistic = -nn.log_sigmoid(logits)
    exp_weighted = mx.exp(-logits + nn.log_sigmoid(logits / TAU))
    losses = logistic * (1 - mod) + exp_weighted
    return losses.mean(), logits


opt = optim.AdamW(learning_rate=1e-3, weight_decay=0.0)
step = nn.value_and_grad(policy, discopop_loss)
t0 = time.time()
for it in range(1, 121):
    chosen, rejected = sample(logP_A, B), sample(logP_B, B)
    ref_c, ref_r = seq_logp(base, chosen), seq_logp(base, rejected)
    (loss, logits), grads = step(policy, chosen, rejected, ref_c, ref_r)
    opt.update(policy, grads)
    mx.eval(policy.parameters(), opt.state, loss, logits)
    if it % 10 == 0 or it == 1:
        acc = (logits > 0).astype(mx.float32).mean().item()
        print(f"it {it:03d} | discopop {loss.item():11.4e} | reward_acc {acc:.2f} "
              f"| margin {logits.mean().item():9.3f}")

gnorm = sum(mx.abs(v).sum().item() for _, v in tree_flatten(grads))
print(f"done in {time.time() - t0:.1f}s, last |grad|_1 = {gnorm:.3e}")
