# Seed-bank lot viability: will a stored seed lot pass its germination test?
# Training labels come from a quick volunteer tetrazolium screen (many are
# mislabelled); a small set of lots was re-checked by a full germination
# test.  Example weights are chosen every step by a one-step lookahead on the
# re-checked lots (learning to reweight examples, Ren et al. 2018).
import math
import time

import mlx.core as mx
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(7)
mx.random.seed(7)

N_FEAT = 6  # moisture, storage years, storage temp, initial vigour, seed mass, oil content


def make_lots(n):
    x = rng.normal(size=(n, N_FEAT)).astype(np.float32)
    logit = (-1.4 * x[:, 0] - 1.1 * x[:, 1] - 0.6 * x[:, 2] + 1.3 * x[:, 3]
             + 0.5 * x[:, 4] * x[:, 3] - 0.7 * np.maximum(x[:, 5], 0.0) + 0.3)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-3.0 * logit))).astype(np.float32)
    return x, y


x_tr, y_clean_tr = make_lots(4000)
flip = rng.random(len(y_clean_tr)) < 0.38
# volunteers mostly marked weak lots as viable
flip &= (y_clean_tr == 0) | (rng.random(len(y_clean_tr)) < 0.35)
y_tr = np.where(flip, 1.0 - y_clean_tr, y_clean_tr).astype(np.float32)
x_chk, y_chk = make_lots(60)      # re-checked lots, trusted labels
x_te, y_te = make_lots(3000)

Xtr, Ytr = mx.array(x_tr), mx.array(y_tr)
Xchk, Ychk = mx.array(x_chk), mx.array(y_chk)
Xte, Yte = mx.array(x_te), mx.array(y_te)


def init_params(seed):
    k = mx.random.key(seed)
    k1, k2, k3 = mx.random.split(k, 3)
    def lin(key, i, o):
        return {"w": mx.random.normal((i, o), key=key) * math.sqrt(2.0 / i),
                "b": mx.zeros((o,))}
    return {"l1": lin(k1, N_FEAT, 32), "l2": lin(k2, 32, 32), "l3": lin(k3, 32, 1)}


def forward(p, x):
    h = mx.maximum(x @ p["l1"]["w"] + p["l1"]["b"], 0.0)
    h = mx.maximum(h @ p["l2"]["w"] + p["l2"]["b"], 0.0)
    return (h @ p["l3"]["w"] + p["l3"]["b"]).squeeze(-1)


def bce(logits, y):
    return mx.logaddexp(0.0, logits) - y * logits


def weighted_loss(p, x, y, w):
    return mx.sum(w * bce(forward(p, x), y))


def mean_loss(p, x, y):
    return mx.mean(bce(forward(p, x), y))


LOOK_LR = 0.1


def check_loss_after_lookahead(eps, p, x, y):
    g = mx.grad(weighted_loss)(p, x, y, eps)
    p_look = {k: {kk: p[k][kk] - LOOK_LR * g[k][kk] for kk in p[k]} for k in p}
    return mean_loss(p_look, Xchk, Ychk)


eps_grad = mx.grad(check_loss_after_lookahead, argnums=0)


def example_weights(p, x, y):
    eps = mx.zeros((x.shape[0],))
    ge = eps_grad(eps, p, x, y)
    w = mx.maximum(-ge, 0.0)
    s = mx.sum(w)
    return mx.where(s > 0, w / mx.maximum(s, 1e-12), w), s


def accuracy(p, x, y):
    return mx.mean(((forward(p, x) > 0).astype(mx.float32) == y).astype(mx.float32)).item()


STEPS, BATCH, WARM = 1500, 100, 200
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, STEPS - WARM, 1e-5)],
    [WARM])


def run(reweight, seed):
    p = init_params(seed)
    opt = optim.Adam(learning_rate=sched)
    loss_grad = mx.value_and_grad(weighted_loss)
    order = np.random.default_rng(seed).permutation
    cursor, perm = 0, order(len(x_tr))
    zero_batches, kept_frac, lsum, lcount = 0, [], 0.0, 0
    log = []
    for step in range(1, STEPS + 1):
        if cursor + BATCH > len(perm):
            perm, cursor = order(len(x_tr)), 0
        idx = mx.array(perm[cursor:cursor + BATCH])
        cursor += BATCH
        xb, yb = Xtr[idx], Ytr[idx]
        if reweight:
            w, s = example_weights(p, xb, yb)
            if s.item() == 0.0:
                zero_batches += 1
            kept_frac.append(mx.mean((w > 0).astype(mx.float32)).item())
        else:
            w = mx.full((BATCH,), 1.0 / BATCH)
        loss, g = loss_grad(p, xb, yb, w)
        p = opt.apply_gradients(g, p)
        mx.eval(p, opt.state)
        lsum += mean_loss(p, xb, yb).item()
        lcount += 1
        if step == 1 or step % 300 == 0:
            log.append((step, float(opt.learning_rate.item()),
                        lsum / lcount, mean_loss(p, Xchk, Ychk).item(),
                        accuracy(p, Xte, Yte),
                        float(np.mean(kept_frac[-300:])) if kept_frac else 1.0))
            lsum, lcount = 0.0, 0
    return p, log, zero_batches


t0 = time.time()
print(f"seed lots: {len(x_tr)} screened ({flip.mean():.1%} screen labels disagree with the full test), "
      f"{len(x_chk)} re-checked, {len(x_te)} held out")
print(f"majority-class baseline on held-out lots: {max(y_te.mean(), 1 - y_te.mean()):.3f}")
_, log_plain, _ = run(reweight=False, seed=11)
print(f"plain Adam on screen labels (same schedule): held-out acc {log_plain[-1][4]:.3f}")
print()
print(f"{'step':>5} {'lr':>9} {'screen_bce':>10} {'recheck_bce':>11} {'heldout_acc':>11} {'kept':>5}")
p, log_rw, zero_batches = run(reweight=True, seed=11)
for step, lr, tr, chk, acc, kept in log_rw:
    print(f"{step:>5} {lr:>9.2e} {tr:>10.4f} {chk:>11.4f} {acc:>11.3f} {kept:>5.2f}")
print()
print(f"batches where every weight was 0 (step skipped): {zero_batches}")
print(f"final held-out acc: reweighted {log_rw[-1][4]:.3f} vs plain {log_plain[-1][4]:.3f} "
      f"(gain {log_rw[-1][4] - log_plain[-1][4]:+.3f})")
print(f"wall {time.time() - t0:.1f}s")
