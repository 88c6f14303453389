"""KTO (unpaired preference) tuning of a tiny sequence policy on thumbs-up/down
feedback exported as CSV. Desirable answers echo the prompt digits in order,
undesirable ones echo them reversed. Reference = frozen copy of the
SFT-warmed policy."""
import csv
import io
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

V, L = 10, 5           # vocab (digits), prompt/completion length
BETA = 0.2
rng = random.Random(7)
mx.random.seed(7)


def make_prompt():
    return [rng.randrange(V) for _ in range(L)]


# ---- feedback export: one row per rated completion, labels are strings ----
buf = io.StringIO()
w = csv.writer(buf)
w.writerow(["prompt", "completion", "label"])
for i in range(800):
    p = make_prompt()
    if rng.random() < 0.5:
        c, lab = list(p), "true"
    else:
        c, lab = p[::-1], "false"
    w.writerow([" ".join(map(str, p)), " ".join(map(str, c)), lab])
buf.seek(0)

rows = []
for r in csv.DictReader(buf):
    rows.append((
        [int(t) for t in r["prompt"].split()],
        [int(t) for t in r["completion"].split()],
        bool(r["label"]),
    ))
print(f"loaded {len(rows)} feedback rows, {sum(r[2] for r in rows)} marked desirable")

P = mx.array([r[0] for r in rows])
C = mx.array([r[1] for r in rows])
Y = mx.array([1.0 if r[2] else 0.0 for r in rows])

held = [make_prompt() for _ in range(200)]
HP = mx.array(held)
HA = mx.array([list(p) for p in held])
HD = mx.array([p[::-1] for p in held])


class SeqPolicy(nn.Module):
    def __init__(self, d=16, h=64):
        super().__init__()
        self.emb = nn.Embedding(V, d)
        self.pos = nn.Embedding(L, d)
        self.body = nn.Sequential(nn.Linear(L * d + d, h), nn.GELU(), nn.Linear(h, h), nn.GELU())
        self.head = nn.Linear(h, V)

    def __call__(self, prompt):
        B = prompt.shape[0]
        ctx = self.emb(prompt).reshape(B, -1)                       # B, L*d
        ctx = mx.broadcast_to(ctx[:, None, :], (B, L, ctx.shape[-1]))
        pos = mx.broadcast_to(self.pos(mx.arange(L))[None], (B, L, self.pos.weight.shape[-1]))
        return self.head(self.body(mx.concatenate([ctx, pos], axis=-1)))  # B, L, V


def seq_logp(model, prompt, comp):
    lp = nn.log_softmax(model(prompt), axis=-1)
    return mx.take_along_axis(lp, comp[..., None], axis=-1).squeeze(-1).sum(-1)


policy = SeqPolicy()
# short SFT warm-up on a mix of both orders so the reference likes neither
warm_opt = optim.Adam(learning_rate=3e-3)
def sft_loss(m, p, c):
    return -seq_logp(m, p, c).mean()
sft_vg = nn.value_and_grad(policy, sft_loss)
for s in range(30):
    idx = mx.array(rng.sample(range(len(rows)), 64))
    l, g = sft_vg(policy, P[idx], C[idx])
    warm_opt.update(policy, g)
    mx.eval(policy.parameters(), warm_opt.state)

reference = SeqPolicy()
reference.update(tree_map(lambda a: mx.array(a), policy.parameters()))
reference.freeze()
mx.eval(reference.parameters())


def kto_loss(model, p, c, y, c_mis):
    pol = seq_logp(model, p, c)
    ref = mx.stop_gradient(seq_logp(reference, p, c))
    ratio = pol - ref
    kl = mx.stop_gradient(mx.maximum((seq_logp(model, p, c_mis) - seq_logp(reference, p, c_mis)).mean(), 0.0))
    des = 1.0 - mx.sigmoid(BETA * (ratio - kl))
    und = 1.0 - mx.sigmoid(BETA * (kl - ratio))
    loss = (y * des + (1.0 - y) * und).mean()
    return loss, (ratio, kl)


opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.0)
vg = nn.value_and_grad(policy, kto_loss)


def heldout():
    pa = seq_logp(policy, HP, HA) - seq_logp(reference, HP, HA)
    pd = seq_logp(policy, HP, HD) - seq_logp(reference, HP, HD)
    acc = (seq_logp(policy, HP, HA) > seq_logp(policy, HP, HD)).astype(mx.float32).mean()
    return acc.item(), pa.mean().item(), pd.mean().item()


print("step | kto_loss | kl_ref | held pref_acc | reward(fwd) | reward(rev)")
for step in range(1, 161):
    idx = rng.sample(range(len(rows)), 64)
    ia = mx.array(idx)
    c_mis = mx.roll(C[ia], 1, axis=0)
    (loss, (ratio, kl)), grads = vg(policy, P[ia], C[ia], Y[ia], c_mis)
    opt.update(policy, grads)
    mx.eval(policy.parameters(), opt.state, loss, kl)
    if step % 16 == 0 or step == 1:
        acc, ra, rd = heldout()
        print(f"{step:4d} | {loss.item():.4f} | {kl.item():.3f} | {acc*100:5.1f}% | {ra:+.3f} | {rd:+.3f}")

acc, ra, rd = heldout()
print(f"final held-out preference accuracy {acc*100:.1f}%  reward margin {ra - rd:+.3f}")
