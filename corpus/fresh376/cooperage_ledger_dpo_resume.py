# Cooperage grading ledger: a tiny next-token model learns to list three stave
# grades in the house order (ascending) via DPO against a frozen SFT reference.
# The run is checkpointed half-way, torn down, rebuilt and resumed from disk.
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

V, PAD, SEP, WIN, DIM = 12, 0, 10, 5, 16
rng = np.random.default_rng(7)
mx.random.seed(7)


class LedgerLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, DIM)
        self.l1 = nn.Linear(WIN * DIM, 64)
        self.l2 = nn.Linear(64, V)

    def __call__(self, ctx):  # ctx: (B, T, WIN) token windows
        h = self.emb(ctx).reshape(*ctx.shape[:2], WIN * DIM)
        return self.l2(nn.gelu(self.l1(h)))


def windows(seq):  # seq (B, L) -> contexts (B, L-1, WIN) predicting seq[:, 1:]
    B, L = seq.shape
    padded = np.concatenate([np.full((B, WIN - 1), PAD), seq], axis=1)
    return np.stack([padded[:, t:t + WIN] for t in range(L - 1)], axis=1)


def make_rows(n):
    grades = rng.integers(1, 10, size=(n, 3))
    asc, desc = np.sort(grades, 1), np.sort(grades, 1)[:, ::-1]
    p = np.concatenate([grades, np.full((n, 1), SEP)], 1)
    return np.concatenate([p, asc], 1), np.concatenate([p, desc], 1)


def completion_logp(model, seq):  # sum of log-probs of the 3 completion tokens
    ctx, tgt = mx.array(windows(seq)), mx.array(seq[:, 1:])
    lp = nn.log_softmax(model(ctx), axis=-1)
    tok = mx.take_along_axis(lp, tgt[..., None], axis=-1).squeeze(-1)
    return tok[:, -3:].sum(axis=1)


# ---- stage 1: quiet SFT on both ledger conventions (50/50) -> reference ----
policy = LedgerLM()
sft_opt = optim.Adam(learning_rate=3e-3)
def sft_loss(m, seq):
    return -completion_logp(m, seq).mean() / 3
sft_step = nn.value_and_grad(policy, sft_loss)
for _ in range(300):
    a, d = make_rows(64)
    seq = np.where(rng.random((64, 1)) < 0.5, a, d)
    loss, g = sft_step(policy, seq)
    sft_opt.update(policy, g)
    mx.eval(policy.parameters(), sft_opt.state)
print(f"sft done: 300 steps, nll/token {loss.item():.4f} (mixed conventions, floor ~ln2/3+)")

reference = LedgerLM()
reference.update(policy.parameters())
reference.freeze()
mx.eval(reference.parameters())

eval_a, eval_d = make_rows(512)
def eval_pref(m):
    ca, cd = completion_logp(m, eval_a), completion_logp(m, eval_d)
    return float((ca > cd).astype(mx.float32).mean())
ref_acc = eval_pref(reference)

# ---- stage 2: DPO with warm-up from exactly 0, checkpoint + resume at 80 ----
BETA, STEPS, HALF = 0.2, 160, 80
sched = optim.join_schedules([optim.linear_schedule(0.0, 6e-4, 20),
                              optim.cosine_decay(6e-4, STEPS - 20, 6e-5)], [20])

def dpo_loss(m, a, d, ra, rd):
    pa, pd = completion_logp(m, a), completion_logp(m, d)
    margin = BETA * ((pa - ra) - (pd - rd))
    loss = -nn.log_sigmoid(margin).mean()
    return loss, (margin, pa, pd)

def run(model, opt, start, stop):
    step_fn = nn.value_and_grad(model, dpo_loss)
    for it in range(start, stop + 1):
        a, d = make_rows(64)
        ra, rd = completion_logp(reference, a), completion_logp(reference, d)
        (loss, (margin, pa, pd)), g = step_fn(model, a, d, mx.stop_gradient(ra), mx.stop_gradient(rd))
        lr_now = sched(opt.step)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 20 == 0 or it == 1:
            acc = float((margin > 0).astype(mx.float32).mean())
            print(f"dpo {it:4d}  lr {float(lr_now):.2e}  loss {loss.item():.4f}  "
                  f"reward_acc {acc:.3f}  margin {float(margin.mean()):+.3f}  "
                  f"logp_chosen {float(pa.mean()):+.3f}  logp_rejected {float(pd.mean()):+.3f}")

opt = optim.AdamW(learning_rate=sched, weight_decay=0.0)
run(policy, opt, 1, HALF)

ckdir = tempfile.mkdtemp(prefix="ledger_ck_")
policy.save_weights(os.path.join(ckdir, "policy.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"checkpoint written at step {HALF}: {sorted(os.listdir(ckdir))}")
del policy, opt

policy = LedgerLM()
policy.load_weights(os.path.join(ckdir, "policy.safetensors"))
opt = optim.AdamW(learning_rate=sched, weight_decay=0.0)
opt.init(policy.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
print(f"resumed: optimizer step counter {int(opt.step.item())}, next lr {float(sched(opt.step)):.2e}")
run(policy, opt, HALF + 1, STEPS)

acc = eval_pref(policy)
print(f"held-out preference for house order: policy {acc:.3f}  reference {ref_acc:.3f}  coin 0.500")
