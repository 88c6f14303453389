"""Ferry terminal notices: which of two draft announcements do passengers prefer?
Pairwise (Bradley-Terry) reward model with pool-based ACTIVE pair acquisition:
a 3-member bootstrap committee is retrained from scratch each round and the next
pairs sent to the passenger panel are the ones the committee disagrees on most."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
N_NOTICES, D = 1500, 8
FEATS = ["clarity", "length", "urgency", "politeness", "jargon", "times_given", "bilingual", "repeat"]
X = rng.normal(size=(N_NOTICES, D)).astype(np.float32)


def utility(x):
    # made-up passenger taste: clear, on-time info, not too long, little jargon
    return (1.2 * x[:, 0] - 0.6 * (x[:, 1] - 0.3) ** 2 + 0.8 * np.tanh(2 * x[:, 5])
            - 0.7 * x[:, 4] + 0.4 * x[:, 3] * x[:, 6] + 0.3 * np.sin(2 * x[:, 2]))


U = utility(X)
TEMP = 0.5


def sample_pairs(n, seed):
    r = np.random.default_rng(seed)
    a = r.integers(N_NOTICES, size=n)
    b = r.integers(N_NOTICES, size=n)
    keep = a != b
    return a[keep], b[keep]


def panel_votes(a, b, seed):
    r = np.random.default_rng(seed)
    p = 1 / (1 + np.exp(-(U[a] - U[b]) / TEMP))
    return (r.random(len(a)) < p).astype(np.float32)  # 1 = first notice preferred


pool_a, pool_b = sample_pairs(8000, 1)
test_a, test_b = sample_pairs(3000, 2)
test_y = panel_votes(test_a, test_b, 3)
oracle_agree = np.mean((U[test_a] > U[test_b]) == (test_y > 0.5))
short_agree = np.mean((X[test_a, 1] < X[test_b, 1]) == (test_y > 0.5))


class Scorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 32)
        self.l2 = nn.Linear(32, 32)
        self.head = nn.Linear(32, 1, bias=False)

    def __call__(self, x):
        return self.head(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)


def bt_loss(model, xa, xb, y):
    gap = model(xa) - model(xb)
    return nn.losses.binary_cross_entropy(gap, y, with_logits=True, reduction="mean")


def fit_member(seed, la, lb, ly, steps=300, batch=64, peak=3e-3, warm=60):
    mx.random.seed(seed)
    r = np.random.default_rng(seed)
    boot = r.integers(len(la), size=len(la))           # bootstrap resample
    a, b, y = la[boot], lb[boot], ly[boot]
    model = Scorer()
    sched = optim.join_schedules([optim.linear_schedule(0.0, peak, warm),
                                  optim.cosine_decay(peak, steps - warm, 1e-4)], [warm])
    opt = optim.Adam(learning_rate=sched)
    step_fn = nn.value_and_grad(model, bt_loss)
    losses = []
    first_lr = None
    for step in range(steps):
        j = r.integers(len(a), size=batch)
        if first_lr is None:
            first_lr = float(sched(mx.array(0)))
        loss, grads = step_fn(model, mx.array(X[a[j]]), mx.array(X[b[j]]), mx.array(y[j]))
        opt.update(model, grads)
        mx.eval(loss, model.parameters(), opt.state)
        losses.append(loss.item())
    return model, float(np.mean(losses[-50:])), first_lr


def prob_first(model, a, b):
    return mx.sigmoid(model(mx.array(X[a])) - model(mx.array(X[b])))


t0 = time.time()
print("[setup]")
print(f"notices = {N_NOTICES}  features = {','.join(FEATS)}")
print(f"candidate_pool = {len(pool_a)}  test_pairs = {len(test_a)}")
print(f"reference.panel_ceiling_agree = {oracle_agree:.4f}")
print(f"reference.shorter_wins_agree = {short_agree:.4f}")
print(f"reference.coin_flip_agree = 0.5000")

in_pool = np.ones(len(pool_a), dtype=bool)
seed_idx = np.random.default_rng(5).choice(len(pool_a), 200, replace=False)
in_pool[seed_idx] = False
lab_a, lab_b = pool_a[seed_idx], pool_b[seed_idx]
lab_y = panel_votes(lab_a, lab_b, 100)

for rnd in range(7):
    members, fits = [], []
    for m in range(3):
        model, tail_loss, lr0 = fit_member(1000 * rnd + m, lab_a, lab_b, lab_y)
        members.append(model)
        fits.append(tail_loss)
    if rnd == 0:
        nz = sum(int(mx.any(v != 0).item()) for _, v in tree_flatten(members[0].parameters()))
        print(f"[check]\nlr_at_first_update = {lr0:.1f}\nparam_arrays = {len(tree_flatten(members[0].parameters()))}  (all trained from zero-mean init, {nz} non-zero)")
    p_test = np.mean([np.array(prob_first(mm, test_a, test_b)) for mm in members], axis=0)
    agree = np.mean((p_test > 0.5) == (test_y > 0.5))
    nll = -np.mean(test_y * np.log(p_test + 1e-7) + (1 - test_y) * np.log(1 - p_test + 1e-7))
    print(f"[round {rnd}]")
    print(f"labelled_pairs = {len(lab_a)}")
    print(f"committee_fit_bt_loss = {np.mean(fits):.4f}")
    print(f"test_agree = {agree:.4f}")
    print(f"test_nll = {nll:.4f}")
    print(f"elapsed_s = {time.time() - t0:.1f}")
    if rnd == 6:
        break
    cand = np.nonzero(in_pool)[0]
    probs = np.stack([np.array(prob_first(mm, pool_a[cand], pool_b[cand])) for mm in members])
    spread = probs.std(axis=0)
    pick = cand[np.argsort(-spread)[:200]]
    print(f"next_batch_mean_spread = {spread[np.argsort(-spread)[:200]].mean():.4f}")
    in_pool[pick] = False
    lab_a = np.concatenate([lab_a, pool_a[pick]])
    lab_b = np.concatenate([lab_b, pool_b[pick]])
    lab_y = np.concatenate([lab_y, panel_votes(pool_a[pick], pool_b[pick], 200 + rnd)])

print("[done]")
print(f"final_test_agree = {agree:.4f}  of ceiling {oracle_agree:.4f}")
