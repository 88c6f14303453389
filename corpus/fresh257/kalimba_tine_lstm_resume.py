# Kalimba tablature language model: 17-tine melodies with bar lines, an LSTM
# trained in two sessions (save -> reload -> continue), sampled note by note.
import math, os, tempfile, time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

TINES, BAR, BOS = 17, 17, 18
VOCAB, OUT = 19, 18
NOTES_PER_BAR, BARS = 4, 4
STEPS = [-2, -1, 1, 2]
W = np.array([0.15, 0.35, 0.35, 0.15])

def step_probs(t):
    p = np.zeros(TINES)
    for s, w in zip(STEPS, W):
        if 0 <= t + s < TINES:
            p[t + s] += w
    return p / p.sum()

def make_tunes(n, rng):
    seqs, nll = [], 0.0
    for _ in range(n):
        t = rng.integers(4, 13)
        toks = [BOS, t]
        nll += math.log(TINES)  # first tine: model cannot know it (uniform in data is 9 of 17)
        for b in range(BARS):
            for k in range(NOTES_PER_BAR):
                if b == 0 and k == 0:
                    continue
                p = step_probs(t)
                t = rng.choice(TINES, p=p)
                nll -= math.log(p[t])
                toks.append(t)
            toks.append(BAR)
        seqs.append(toks)
    return np.array(seqs, dtype=np.int32)

def oracle_nll(seqs):
    tot, cnt = 0.0, 0
    for s in seqs:
        first = True
        for i in range(1, len(s)):
            y = s[i]
            if first:
                tot += math.log(9); first = False
            elif y == BAR:
                pass
            else:
                prev = s[i - 1] if s[i - 1] != BAR else s[i - 2]
                tot -= math.log(step_probs(prev)[y])
            cnt += 1
    return tot / cnt

class TineLM(nn.Module):
    def __init__(self, d=32, h=64):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, d)
        self.lstm = nn.LSTM(d, h)
        self.head = nn.Linear(h, OUT)
    def __call__(self, x, hidden=None, cell=None):
        hs, cs = self.lstm(self.emb(x), hidden, cell)
        return self.head(hs), hs[:, -1], cs[:, -1]

def loss_fn(model, x, y):
    logits, _, _ = model(x)
    return nn.losses.cross_entropy(logits, y, reduction="mean")

def legal_rate(model, n, rng, temp=1.0):
    tok = mx.array(np.full((n, 1), BOS, dtype=np.int32))
    h = c = None
    out = []
    for i in range(BARS * (NOTES_PER_BAR + 1)):
        logits, h, c = model(tok, h, c)
        nxt = mx.random.categorical(logits[:, -1] / temp)
        out.append(nxt)
        tok = nxt[:, None]
    s = np.array(mx.stack(out, axis=1))
    good = tot = bars_ok = 0
    for row in s:
        last = None
        for j, t in enumerate(row):
            want_bar = (j % (NOTES_PER_BAR + 1)) == NOTES_PER_BAR
            bars_ok += int((t == BAR) == want_bar)
            if t != BAR and last is not None:
                good += int(abs(int(t) - int(last)) in (1, 2)); tot += 1
            if t != BAR:
                last = t
    return good / max(tot, 1), bars_ok / s.size

def build(total_steps):
    model = TineLM()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 4e-3, 40), optim.cosine_decay(4e-3, total_steps - 40, 2e-4)], [40])
    return model, optim.Adam(learning_rate=sched)

def run_session(model, opt, train, val, start, stop, rng, bs=32):
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step_fn(x, y):
        loss, g = nn.value_and_grad(model, loss_fn)(model, x, y)
        opt.update(model, g)
        return loss
    t0 = time.time()
    for step in range(start, stop):
        idx = rng.integers(0, len(train), bs)
        b = mx.array(train[idx])
        lr = float(opt.learning_rate)
        loss = step_fn(b[:, :-1], b[:, 1:])
        mx.eval(model.parameters(), opt.state, loss)
        if (step + 1) % 40 == 0:
            vb = mx.array(val)
            vl = loss_fn(model, vb[:, :-1], vb[:, 1:]).item()
            print(f"- step: {step + 1}\n  lr_used: {lr:.5f}\n  train_nats: {loss.item():.4f}\n"
                  f"  val_nats: {vl:.4f}\n  elapsed_s: {time.time() - t0:.1f}")

def main():
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    train, val = make_tunes(2000, rng), make_tunes(200, rng)
    floor = oracle_nll(val)
    print("---\ndataset:\n  tunes_train: 2000\n  tunes_val: 200\n  tokens_per_tune: %d" % (train.shape[1] - 1))
    print(f"  uniform_nats: {math.log(OUT):.4f}\n  generator_floor_nats: {floor:.4f}")
    total = 160
    model, opt = build(total)
    mx.eval(model.parameters())
    lr0, br0 = legal_rate(model, 100, rng)
    print(f"untrained:\n  legal_leaps: {lr0:.3f}\n  bar_lines_in_place: {br0:.3f}")
    print("session_1:")
    run_session(model, opt, train, val, 0, 80, rng)
    ckdir = tempfile.mkdtemp(prefix="kalimba_")
    model.save_weights(os.path.join(ckdir, "weights.safetensors"))
    mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
    print(f"checkpoint:\n  dir: {os.path.basename(ckdir)}\n  opt_step: {int(opt.state['step'])}")
    del model, opt
    model, opt = build(total)
    model.load_weights(os.path.join(ckdir, "weights.safetensors"))
    opt.init(model.trainable_parameters())
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
    vb = mx.array(val)
    print(f"resumed:\n  opt_step: {int(opt.state['step'])}\n"
          f"  val_nats_after_load: {loss_fn(model, vb[:, :-1], vb[:, 1:]).item():.4f}")
    print("session_2:")
    run_session(model, opt, train, val, 80, total, rng)
    print("sampling:")
    for temp in (0.7, 1.0, 1.3):
        lr_, br_ = legal_rate(model, 100, rng, temp)
        print(f"  - temperature: {temp}\n    legal_leaps: {lr_:.3f}\n    bar_lines_in_place: {br_:.3f}")
    print("done: true")

if __name__ == "__main__":
    main()
