"""Segment pottery-kiln thermocouple logs into firing phases with a semi-Markov CRF.

Each log is 30 readings (one per 10 minutes).  A firing is a run of phases
(ramp / hold / soak / cool), each phase lasting a phase-specific number of
readings.  The model scores whole segments: summed per-reading emissions plus a
learned duration score per phase, plus phase-to-phase transition scores.
Training runs as two sessions: the first saves weights and optimizer state,
the second loads them into fresh objects and carries on.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

PHASES = ["ramp", "hold", "soak", "cool"]
NP = len(PHASES)
T = 30
LMAX = 8
FEAT = 5
DUR = {0: (3, 8), 1: (1, 3), 2: (4, 8), 3: (2, 6)}
NEXT = {0: [1, 2, 3], 1: [0, 2], 2: [3, 0], 3: [0, 1]}
CENTRES = np.array([
    [1.0, 0.9, 0.2, 0.0, 0.3],    # ramp: rising temperature, fuel on
    [0.0, 0.1, 0.9, 0.2, 0.1],    # hold: flat, damper half
    [0.3, 0.0, 0.6, 0.9, 0.0],    # soak: flat-warm, damper shut
    [-0.9, -0.6, 0.1, 0.1, 0.8],  # cool: falling, vents open
], dtype=np.float32)


def sample_log(rng):
    segs, t, prev = [], 0, None
    while t < T:
        y = int(rng.integers(NP)) if prev is None else int(rng.choice(NEXT[prev]))
        lo, hi = DUR[y]
        ln = int(rng.integers(lo, hi + 1))
        ln = min(ln, T - t)
        segs.append((t, ln, y))
        t += ln
        prev = y
    tags = np.zeros(T, np.int64)
    for s, ln, y in segs:
        tags[s:s + ln] = y
    x = CENTRES[tags] + rng.normal(0, 0.75, size=(T, FEAT)).astype(np.float32)
    # the first reading of each phase carries a burner click on channel 4
    for s, ln, y in segs:
        x[s, 4] += 0.6
    return x.astype(np.float32), segs


def make_set(n, seed):
    rng = np.random.default_rng(seed)
    xs, segsets = [], []
    for _ in range(n):
        x, segs = sample_log(rng)
        xs.append(x)
        segsets.append(segs)
    return np.stack(xs), segsets


def gold_tensors(segsets):
    B = len(segsets)
    tag_oh = np.zeros((B, T, NP), np.float32)
    dur_ct = np.zeros((B, NP, LMAX), np.float32)
    tr_ct = np.zeros((B, NP, NP), np.float32)
    st_oh = np.zeros((B, NP), np.float32)
    for b, segs in enumerate(segsets):
        prev = None
        for s, ln, y in segs:
            tag_oh[b, s:s + ln, y] = 1.0
            dur_ct[b, y, ln - 1] += 1.0
            if prev is None:
                st_oh[b, y] = 1.0
            else:
                tr_ct[b, prev, y] += 1.0
            prev = y
    return [mx.array(a) for a in (tag_oh, dur_ct, tr_ct, st_oh)]


class SemiCRF(nn.Module):
    def __init__(self):
        super().__init__()
        self.emit = nn.Sequential(nn.Linear(3 * FEAT, 48), nn.GELU(), nn.Linear(48, NP))
        self.trans = mx.zeros((NP, NP))
        self.start = mx.zeros((NP,))
        self.dur = mx.zeros((NP, LMAX))

    def emissions(self, x):
        left = mx.concatenate([x[:, :1], x[:, :-1]], axis=1)
        right = mx.concatenate([x[:, 1:], x[:, -1:]], axis=1)
        return self.emit(mx.concatenate([left, x, right], axis=-1))

    def log_partition(self, em):
        B = em.shape[0]
        cum = mx.concatenate([mx.zeros((B, 1, NP)), mx.cumsum(em, axis=1)], axis=1)
        alphas = [None]
        for t in range(1, T + 1):
            cands = []
            for ln in range(1, min(LMAX, t) + 1):
                s = t - ln
                seg = cum[:, t] - cum[:, s] + self.dur[:, ln - 1]
                if s == 0:
                    cands.append(self.start + seg)
                else:
                    prev = mx.logsumexp(alphas[s][:, :, None] + self.trans[None], axis=1)
                    cands.append(prev + seg)
            alphas.append(mx.logsumexp(mx.stack(cands, axis=0), axis=0))
        return mx.logsumexp(alphas[T], axis=-1)

    def gold_score(self, em, tag_oh, dur_ct, tr_ct, st_oh):
        return (mx.sum(em * tag_oh, axis=(1, 2)) + mx.sum(dur_ct * self.dur, axis=(1, 2))
                + mx.sum(tr_ct * self.trans, axis=(1, 2)) + mx.sum(st_oh * self.start, axis=1))


def nll(model, x, tag_oh, dur_ct, tr_ct, st_oh):
    em = model.emissions(x)
    return mx.mean(model.log_partition(em) - model.gold_score(em, tag_oh, dur_ct, tr_ct, st_oh))


def viterbi(em, trans, start, dur):
    best = np.full((T + 1, NP), -np.inf)
    back = {}
    cum = np.concatenate([np.zeros((1, NP)), np.cumsum(em, axis=0)], axis=0)
    for t in range(1, T + 1):
        for ln in range(1, min(LMAX, t) + 1):
            s = t - ln
            seg = cum[t] - cum[s] + dur[:, ln - 1]
            if s == 0:
                sc, arg = start + seg, np.full(NP, -1)
            else:
                m = best[s][:, None] + trans
                arg = m.argmax(0)
                sc = m.max(0) + seg
            for y in range(NP):
                if sc[y] > best[t, y]:
                    best[t, y] = sc[y]
                    back[(t, y)] = (s, int(arg[y]))
    segs, t, y = [], T, int(best[T].argmax())
    while t > 0:
        s, py = back[(t, y)]
        segs.append((s, t - s, y))
        t, y = s, py
    return segs[::-1]


def runs_from_frames(tags):
    segs, s = [], 0
    for t in range(1, T + 1):
        if t == T or tags[t] != tags[s]:
            segs.append((s, t - s, int(tags[s])))
            s = t
    return segs


def seg_f1(pred_sets, gold_sets):
    tp = npred = ngold = 0
    for p, g in zip(pred_sets, gold_sets):
        ps, gs = set(p), set(g)
        tp += len(ps & gs)
        npred += len(ps)
        ngold += len(gs)
    prec = tp / max(npred, 1)
    rec = tp / max(ngold, 1)
    return 200 * prec * rec / max(prec + rec, 1e-9)


def evaluate(model, xv, gv, gold_v):
    em = model.emissions(mx.array(xv))
    val = mx.mean(model.log_partition(em) - model.gold_score(em, *gold_v))
    em_np = np.array(em)
    tr, st, du = np.array(model.trans), np.array(model.start), np.array(model.dur)
    pred = [viterbi(e, tr, st, du) for e in em_np]
    frame_runs = [runs_from_frames(e.argmax(-1)) for e in em_np]
    return val.item(), seg_f1(pred, gv), seg_f1(frame_runs, gv)


def build(lr_fn):
    model = SemiCRF()
    opt = optim.AdamW(learning_rate=lr_fn, weight_decay=1e-4)
    return model, opt


def main():
    mx.random.seed(7)
    xtr, gtr = make_set(1200, 11)
    xv, gv = make_set(200, 12)
    gold_v = gold_tensors(gv)
    batch, steps_a, steps_b = 32, 120, 120
    lr_fn = optim.step_decay(3e-3, 0.5, 100)
    rng = np.random.default_rng(3)
    ckdir = tempfile.mkdtemp(prefix="kiln_")

    model, opt = build(lr_fn)
    v, f1, f1_frames = evaluate(model, xv, gv, gold_v)
    print(f"logs train={len(xtr)} valid={len(xv)} readings/log={T} max phase length={LMAX}")
    print(f"before training: valid nll/log {v:8.3f}  segment F1 {f1:5.1f}%  frame-runs F1 {f1_frames:5.1f}%")
    print("step\tlr\ttrain_nll\tvalid_nll\tseg_F1%\tframe_runs_F1%\tsecs")

    def run(model, opt, first, last, t0):
        lossgrad = nn.value_and_grad(model, nll)
        acc = []
        for step in range(first, last + 1):
            idx = rng.choice(len(xtr), batch, replace=False)
            gt = gold_tensors([gtr[i] for i in idx])
            loss, grads = lossgrad(model, mx.array(xtr[idx]), *gt)
            grads, _ = optim.clip_grad_norm(grads, 10.0)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            acc.append(loss.item())
            if step % 30 == 0:
                v, f1, f1_frames = evaluate(model, xv, gv, gold_v)
                lr = opt.learning_rate.item()
                print(f"{step}\t{lr:.2e}\t{np.mean(acc):.3f}\t{v:.3f}\t{f1:.1f}\t{f1_frames:.1f}\t{time.time() - t0:.1f}")
                acc = []

    t0 = time.time()
    run(model, opt, 1, steps_a, t0)
    wpath = os.path.join(ckdir, "semicrf.safetensors")
    opath = os.path.join(ckdir, "adamw_state.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    v_saved, _, _ = evaluate(model, xv, gv, gold_v)
    print(f"# session 1 closed at step {steps_a}: wrote {os.path.basename(wpath)} and {os.path.basename(opath)}")
    del model, opt

    model, opt = build(lr_fn)
    model.load_weights(wpath)
    opt.state = tree_unflatten(list(mx.load(opath).items()))
    mx.eval(model.parameters(), opt.state)
    v_loaded, _, _ = evaluate(model, xv, gv, gold_v)
    print(f"# session 2 opened: optimizer step counter {opt.step.item()}, valid nll {v_saved:.4f} -> {v_loaded:.4f} after reload")
    run(model, opt, steps_a + 1, steps_a + steps_b, t0)

    v, f1, f1_frames = evaluate(model, xv, gv, gold_v)
    print(f"final: valid nll/log {v:.3f}  segment F1 {f1:.1f}% (semi-Markov Viterbi)  vs {f1_frames:.1f}% (per-reading argmax runs)")
    du = np.array(model.dur)
    for y, name in enumerate(PHASES):
        lo, hi = DUR[y]
        top = int(du[y].argmax()) + 1
        print(f"  duration scores {name:5s}: true range {lo}-{hi}  highest-scoring length {top}  "
              + " ".join(f"{d:+.1f}" for d in du[y]))


if __name__ == "__main__":
    main()
