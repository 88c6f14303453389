# Preference tuning (winner/loser pairs) of a tiny autoregressive "guess" model
# against a frozen reference copy, with a KL-style penalty on the winners.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

V, L, P, D = 16, 6, 8, 48
BETA, KL_COEFF = 0.1, 0.02
STEPS, EVERY = 600, 50

mx.random.seed(11)
prompts = mx.arange(P)
winners = mx.random.randint(1, V, (P, L))
losers = mx.random.randint(1, V, (P, L))


class GuessLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.pemb = nn.Embedding(P, D)
        self.temb = nn.Embedding(V, D)
        self.pos = nn.Embedding(L, D)
        self.hid = nn.Linear(D, 2 * D)
        self.out = nn.Linear(2 * D, V)

    def __call__(self, prompt, toks):
        prev = mx.concatenate([mx.zeros((toks.shape[0], 1), dtype=toks.dtype), toks[:, :-1]], axis=1)
        x = self.pemb(prompt)[:, None, :] + self.temb(prev) + self.pos(mx.arange(toks.shape[1]))
        return self.out(nn.gelu(self.hid(x)))


def seq_logp(model, prompt, toks):
    logits = model(prompt, toks)
    lp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    return mx.take_along_axis(lp, toks[..., None], axis=-1).squeeze(-1).sum(-1)


def greedy_match(model):
    toks = mx.zeros((P, L), dtype=mx.int32)
    for t in range(L):
        nxt = mx.argmax(model(prompts, toks)[:, t, :], axis=-1).astype(mx.int32)
        toks = mx.concatenate([toks[:, :t], nxt[:, None], toks[:, t + 1:]], axis=1)
    return mx.mean((toks == winners).astype(mx.float32)).item() * 100


ref = GuessLM()
mx.eval(ref.parameters())
ref.freeze()
policy = GuessLM()
policy.update(ref.parameters())
mx.eval(policy.parameters())

ref_w = seq_logp(ref, prompts, winners)
ref_l = seq_logp(ref, prompts, losers)
mx.eval(ref_w, ref_l)


def pref_loss(model, prompt, w_toks, l_toks):
    pol_w = seq_logp(model, prompt, w_toks)
    pol_l = seq_logp(model, prompt, l_toks)
    z = (pol_w - pol_l) - (ref_w - ref_l)
    pref = -mx.mean(nn.log_sigmoid(BETA * z))
    # penalise the policy for moving too far from the reference on the "good" examples
    kl_div = mx.mean(pol_w - ref_w)
    loss = pref + KL_COEFF * kl_div
    return loss, (pref, kl_div, mx.mean(pol_w), mx.mean(z))


opt = optim.Adam(learning_rate=3e-3)
step_fn = nn.value_and_grad(policy, pref_loss)

print(f"ref  chosen_logp={mx.mean(ref_w).item():.3f}  rejected_logp={mx.mean(ref_l).item():.3f}  greedy_match={greedy_match(policy):.1f}%")
t0 = time.time()
for step in range(1, STEPS + 1):
    (loss, (pref, kl, cw, margin)), grads = step_fn(policy, prompts, winners, losers)
    opt.update(policy, grads)
    mx.eval(policy.parameters(), opt.state, loss)
    if step == 1 or step % EVERY == 0:
        print(f"step {step:4d} | loss {loss.item():9.4f} | pref {pref.item():.4f} | kl {kl.item():9.3f} "
              f"| chosen_logp {cw.item():9.3f} | margin {margin.item():8.2f} | greedy_match {greedy_match(policy):5.1f}%")
print(f"done in {time.time() - t0:.1f}s  final chosen_logp={mx.mean(seq_logp(policy, prompts, winners)).item():.3f} "
      f"(ref {mx.mean(ref_w).item():.3f})  greedy_match={greedy_match(policy):.1f}%")
