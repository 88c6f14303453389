"""Port-authority ticket router: department + intent from short tickets.

Two heads on one bag-of-tokens encoder: a 3-way department head and a 9-way
intent head.  Labels arrive as strings ("berthing/pilot_request") and are
mapped to ids through label maps built from the training split.

Stage A trains the department head only (the intent head is frozen and its
drift is checked).  Stage B trains everything with AdamW under a linear
warm-up that starts at exactly 0 and then a cosine decay; the intent loss
uses class weights from the (imbalanced) training counts.  Half-way through
stage B the run is checkpointed and resumed into a fresh model and optimizer.
About 6% of training tickets carry a slipped label, so the loss flattens out
well above zero.
"""

import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 11
VOCAB = 260
MAXLEN = 14
DEPTS = {
    "customs": ["duty_query", "seal_check", "manifest_amend"],
    "berthing": ["pilot_request", "tug_booking", "berth_swap"],
    "cargo": ["reefer_alarm", "crane_delay", "lashing_issue"],
}
INTENT_SHARE = [0.30, 0.20, 0.05, 0.25, 0.10, 0.05, 0.03, 0.12, 0.10]

rng = np.random.default_rng(SEED)
FULL = [f"{d}/{i}" for d, its in DEPTS.items() for i in its]
# keyword ids: 6 per department (20..37), 5 per intent (40..84), filler 100..259
DEPT_WORDS = {d: np.arange(20 + 6 * k, 26 + 6 * k) for k, d in enumerate(DEPTS)}
INTENT_WORDS = {f: np.arange(40 + 5 * k, 45 + 5 * k) for k, f in enumerate(FULL)}


def make_split(n, slip=0.0):
    names = rng.choice(FULL, size=n, p=np.array(INTENT_SHARE) / sum(INTENT_SHARE))
    ids = np.zeros((n, MAXLEN), dtype=np.int32)
    for r, name in enumerate(names):
        dept = name.split("/")[0]
        toks = list(rng.choice(DEPT_WORDS[dept], 2)) + list(rng.choice(INTENT_WORDS[name], 2))
        toks += list(rng.integers(100, VOCAB, rng.integers(2, MAXLEN - 4)))
        rng.shuffle(toks)
        ids[r, : len(toks)] = toks
    names = names.copy()
    flip = rng.random(n) < slip
    names[flip] = rng.choice(FULL, size=int(flip.sum()))
    return ids, names


class TicketNet(nn.Module):
    def __init__(self, n_dept, n_intent):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 32)
        self.trunk = nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.dept_head = nn.Linear(64, n_dept)
        self.intent_head = nn.Linear(64, n_intent)

    def __call__(self, ids):
        mask = (ids != 0).astype(mx.float32)[..., None]
        h = (self.embed(ids) * mask).sum(axis=1) / mx.maximum(mask.sum(axis=1), 1.0)
        h = self.trunk(h)
        return self.dept_head(h), self.intent_head(h)


def macro_f1(pred, true, k):
    f1s = []
    for c in range(k):
        tp = np.sum((pred == c) & (true == c))
        fp = np.sum((pred == c) & (true != c))
        fn = np.sum((pred != c) & (true == c))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1s))


def main():
    mx.random.seed(SEED)
    tr_ids, tr_names = make_split(6000, slip=0.06)
    va_ids, va_names = make_split(1500)

    intent2id = {n: i for i, n in enumerate(sorted(set(tr_names)))}
    dept2id = {d: i for i, d in enumerate(sorted({n.split("/")[0] for n in tr_names}))}
    intent_dept = np.array([dept2id[n.split("/")[0]] for n in sorted(intent2id, key=intent2id.get)])

    def encode(names):
        fi = np.array([intent2id[n] for n in names])
        return fi, intent_dept[fi]

    tr_fi, tr_di = encode(tr_names)
    va_fi, va_di = encode(va_names)
    counts = np.bincount(tr_fi, minlength=len(intent2id))
    cw = (counts.sum() / (len(counts) * counts)) ** 0.5
    class_w = mx.array(cw / cw.mean(), dtype=mx.float32)
    X, Yf, Yd = mx.array(tr_ids), mx.array(tr_fi), mx.array(tr_di)
    VX = mx.array(va_ids)
    majority = np.bincount(tr_fi).argmax()
    base_acc = float(np.mean(va_fi == majority))
    base_f1 = macro_f1(np.full_like(va_fi, majority), va_fi, len(intent2id))

    print("| stage | step | lr | train loss | dept acc % | intent acc % | macro-F1 | consistent % |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| base | - | - | - | {100*np.mean(va_di == np.bincount(tr_di).argmax()):.1f} | {100*base_acc:.1f} | {base_f1:.3f} | - |")

    def evaluate(model):
        model.eval()
        ld, lf = model(VX)
        pd_, pf = np.array(mx.argmax(ld, 1)), np.array(mx.argmax(lf, 1))
        model.train()
        return (100 * np.mean(pd_ == va_di), 100 * np.mean(pf == va_fi),
                macro_f1(pf, va_fi, len(intent2id)), 100 * np.mean(intent_dept[pf] == pd_))

    def dept_loss(model, x, yd, yf):
        ld, _ = model(x)
        return nn.losses.cross_entropy(ld, yd, reduction="mean")

    def joint_loss(model, x, yd, yf):
        ld, lf = model(x)
        l_d = nn.losses.cross_entropy(ld, yd, reduction="mean")
        l_f = nn.losses.cross_entropy(lf, yf, weights=class_w[yf], reduction="sum") / class_w[yf].sum()
        return l_d + l_f

    def batches(bs=64):
        perm = np.random.default_rng(int(rng.integers(1 << 30))).permutation(len(tr_fi))
        for s in range(0, len(perm) - bs + 1, bs):
            idx = mx.array(perm[s:s + bs])
            yield X[idx], Yd[idx], Yf[idx]

    def run(model, opt, loss_fn, steps, stage, first_step=1, log_every=50):
        step_fn = nn.value_and_grad(model, loss_fn)
        step, window = first_step - 1, []
        while step < first_step - 1 + steps:
            for x, yd, yf in batches():
                step += 1
                loss, grads = step_fn(model, x, yd, yf)
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state, loss)
                window.append(loss.item())
                if step % log_every == 0:
                    lr = opt.learning_rate.item()
                    da, ia, f1, cons = evaluate(model)
                    print(f"| {stage} | {step} | {lr:.2e} | {np.mean(window):.4f} | {da:.1f} | {ia:.1f} | {f1:.3f} | {cons:.1f} |")
                    window = []
                if step >= first_step - 1 + steps:
                    break
        return step

    t0 = time.time()
    model = TicketNet(len(dept2id), len(intent2id))
    mx.eval(model.parameters())
    frozen_before = {k: np.array(v) for k, v in tree_flatten(model.intent_head.parameters())}
    model.intent_head.freeze()
    opt_a = optim.Adam(learning_rate=3e-3)
    run(model, opt_a, dept_loss, 150, "A")
    drift = max(float(np.abs(np.array(v) - frozen_before[k]).max())
                for k, v in tree_flatten(model.intent_head.parameters()))
    print(f"\nstage A done: intent head drift {drift:.1e} (frozen)\n")
    model.intent_head.unfreeze()

    total_b, warm = 400, 60
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, total_b - warm, 5e-5)],
        [warm],
    )
    opt_b = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
    print("| stage | step | lr | train loss | dept acc % | intent acc % | macro-F1 | consistent % |")
    print("|---|---|---|---|---|---|---|---|")
    last = run(model, opt_b, joint_loss, total_b // 2, "B", first_step=1)

    with tempfile.TemporaryDirectory() as d:
        model.save_weights(os.path.join(d, "weights.safetensors"))
        mx.save_safetensors(os.path.join(d, "opt.safetensors"), dict(tree_flatten(opt_b.state)))
        fresh = TicketNet(len(dept2id), len(intent2id))
        fresh.load_weights(os.path.join(d, "weights.safetensors"))
        opt_c = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
        opt_c.state = tree_unflatten(list(mx.load(os.path.join(d, "opt.safetensors")).items()))
        mx.eval(fresh.parameters())
    print(f"\nresumed at step {last} from checkpoint into fresh objects "
          f"(optimizer step counter {int(opt_c.state['step'].item())})\n")
    print("| stage | step | lr | train loss | dept acc % | intent acc % | macro-F1 | consistent % |")
    print("|---|---|---|---|---|---|---|---|")
    run(fresh, opt_c, joint_loss, total_b - last, "B", first_step=last + 1)

    da, ia, f1, cons = evaluate(fresh)
    print(f"\nfinal: intent acc {ia:.1f}% (majority {100*base_acc:.1f}%), macro-F1 {f1:.3f} "
          f"(majority {base_f1:.3f}), dept acc {da:.1f}%, {time.time()-t0:.1f}s")


if __name__ == "__main__":
    main()
