# Saffron lot grading (4 grades) from 8 lab readings, learned by two peer
# networks that teach each other (deep mutual learning, Zhang et al. 2018):
# each peer minimises CE on the grade + KL(peer || itself) on the other's
# current predictions. No pretrained teacher. Training stops after epoch 6,
# both peers and both optimizers are saved, rebuilt from disk and resumed.
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

GRADES = ["I", "II", "III", "reject"]
rng = np.random.default_rng(11)
mx.random.seed(11)


def make_lots(n):
    crocin = rng.normal(0, 1, n)
    picro = 0.6 * crocin + rng.normal(0, 0.8, n)
    safranal = rng.normal(0, 1, n)
    moisture = rng.normal(0, 1, n)
    waste = np.abs(rng.normal(0, 1, n))
    colour = 0.8 * crocin + rng.normal(0, 0.5, n)
    style_len = rng.normal(0, 1, n)
    ash = rng.normal(0, 1, n)
    score = (1.2 * crocin + 0.5 * picro + 0.4 * np.tanh(2 * safranal)
             - 0.7 * moisture - 0.9 * waste + 0.3 * colour * style_len
             + rng.normal(0, 0.45, n))
    cuts = np.quantile(score, [0.35, 0.7, 0.9])
    y = 3 - np.searchsorted(cuts, score)
    X = np.stack([crocin, picro, safranal, moisture, waste, colour, style_len, ash], 1)
    return X.astype(np.float32), y.astype(np.int32)


Xtr, ytr = make_lots(3000)
Xva, yva = make_lots(800)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr_m, ytr_m, Xva_m, yva_m = map(mx.array, (Xtr, ytr, Xva, yva))


class PeerA(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 48)
        self.l2 = nn.Linear(48, 4)

    def __call__(self, x):
        return self.l2(nn.silu(self.l1(x)))


class PeerB(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 32)
        self.l2 = nn.Linear(32, 32)
        self.l3 = nn.Linear(32, 4)

    def __call__(self, x):
        return self.l3(mx.tanh(self.l2(mx.tanh(self.l1(x)))))


def mutual_loss(model, x, y, peer_logits):
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    peer_logp = nn.log_softmax(mx.stop_gradient(peer_logits), axis=-1)
    kl = (mx.exp(peer_logp) * (peer_logp - nn.log_softmax(logits, axis=-1))).sum(-1).mean()
    return ce + kl, (ce, kl)


BATCH, EPOCHS, STOP_AT = 64, 12, 6
STEPS_PER_EPOCH = len(Xtr) // BATCH


def make_opt():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 1.0, STEPS_PER_EPOCH), lambda s: mx.array(1.0)],
        [STEPS_PER_EPOCH],
    )
    return optim.AdaDelta(learning_rate=sched, rho=0.95)


def evaluate(a, b):
    la, lb = a(Xva_m), b(Xva_m)
    acc = lambda lg: (mx.argmax(lg, -1) == yva_m).mean().item() * 100
    ens = (nn.softmax(la, -1) + nn.softmax(lb, -1)) / 2
    ce_a = nn.losses.cross_entropy(la, yva_m, reduction="mean").item()
    ce_b = nn.losses.cross_entropy(lb, yva_m, reduction="mean").item()
    agree = (mx.argmax(la, -1) == mx.argmax(lb, -1)).mean().item() * 100
    return acc(la), acc(lb), acc(ens), ce_a, ce_b, agree


def save_session(path, peers, opts, epoch, perm_seed):
    for name, m in peers.items():
        m.save_weights(os.path.join(path, f"{name}.safetensors"))
    for name, o in opts.items():
        mx.save_safetensors(os.path.join(path, f"{name}_opt.safetensors"),
                            dict(tree_flatten(o.state)))
    with open(os.path.join(path, "meta.json"), "w") as f:
        json.dump({"epoch": epoch, "perm_seed": perm_seed}, f)


def load_session(path):
    peers = {"A": PeerA(), "B": PeerB()}
    opts = {"A": make_opt(), "B": make_opt()}
    for name in peers:
        peers[name].load_weights(os.path.join(path, f"{name}.safetensors"))
        opts[name].state = tree_unflatten(list(
            mx.load(os.path.join(path, f"{name}_opt.safetensors")).items()))
    with open(os.path.join(path, "meta.json")) as f:
        meta = json.load(f)
    return peers, opts, meta


def run_epochs(peers, opts, first, last, perm_rng):
    a, b = peers["A"], peers["B"]
    grad_a = nn.value_and_grad(a, mutual_loss)
    grad_b = nn.value_and_grad(b, mutual_loss)
    for epoch in range(first, last + 1):
        perm = perm_rng.permutation(len(Xtr))
        sums = np.zeros(4)
        lr0 = opts["A"].learning_rate.item()
        for k in range(STEPS_PER_EPOCH):
            idx = mx.array(perm[k * BATCH:(k + 1) * BATCH])
            x, y = Xtr_m[idx], ytr_m[idx]
            logits_b = b(x)
            (_, (ce_a, kl_a)), g_a = grad_a(a, x, y, logits_b)
            opts["A"].update(a, g_a)
            logits_a = a(x)
            (_, (ce_b, kl_b)), g_b = grad_b(b, x, y, logits_a)
            opts["B"].update(b, g_b)
            mx.eval(a.parameters(), b.parameters(), opts["A"].state, opts["B"].state)
            if epoch == 1 and k == 0:
                ga = [n for n, v in tree_flatten(g_a) if mx.abs(v).sum().item() == 0]
                gb = [n for n, v in tree_flatten(g_b) if mx.abs(v).sum().item() == 0]
                print(f"| - | grad check | lr={lr0:.3f} | zero-grad leaves A={ga} B={gb} | | | |")
            sums += [ce_a.item(), kl_a.item(), ce_b.item(), kl_b.item()]
        m = sums / STEPS_PER_EPOCH
        va, vb, ve, cea, ceb, agree = evaluate(a, b)
        print(f"| {epoch:2d} | A ce {m[0]:.4f} kl {m[1]:.4f} | B ce {m[2]:.4f} kl {m[3]:.4f} "
              f"| lr {lr0:.3f} | val acc A {va:5.1f}% B {vb:5.1f}% pair {ve:5.1f}% "
              f"| val ce A {cea:.4f} B {ceb:.4f} | agree {agree:5.1f}% |")


t0 = time.perf_counter()
majority = np.bincount(yva).max() / len(yva) * 100
print(f"lots: train {len(Xtr)} / valid {len(Xva)}; grade shares (valid) "
      + ", ".join(f"{g} {c / len(yva):.0%}" for g, c in zip(GRADES, np.bincount(yva, minlength=4))))
print(f"reference: majority-grade accuracy {majority:.1f}%, uniform-guess ce {np.log(4):.4f}")
print("| epoch | peer A train | peer B train | lr at epoch start | accuracy (higher is better) | val ce | A/B agree |")
print("|---|---|---|---|---|---|---|")

perm_rng = np.random.default_rng(5)
peers = {"A": PeerA(), "B": PeerB()}
opts = {"A": make_opt(), "B": make_opt()}
run_epochs(peers, opts, 1, STOP_AT, perm_rng)
before = evaluate(peers["A"], peers["B"])

with tempfile.TemporaryDirectory() as ckpt:
    save_session(ckpt, peers, opts, STOP_AT, 5)
    del peers, opts
    peers, opts, meta = load_session(ckpt)
after = evaluate(peers["A"], peers["B"])
print(f"| resume | from epoch {meta['epoch']} | val ce A {after[3]:.4f} (saved {before[3]:.4f}) "
      f"B {after[4]:.4f} (saved {before[4]:.4f}) | opt step {opts['A'].step.item()} | | | |")
run_epochs(peers, opts, meta["epoch"] + 1, EPOCHS, perm_rng)

va, vb, ve, cea, ceb, agree = evaluate(peers["A"], peers["B"])
print(f"done in {time.perf_counter() - t0:.1f}s: peer A {va:.1f}%, peer B {vb:.1f}%, "
      f"averaged pair {ve:.1f}% vs majority {majority:.1f}%")
