"""Tram hearing-loop announcement spotter.

Small temporal-convolution keyword spotter (TC-ResNet style: the 20 filterbank
bands are the Conv1d channels, time is the sequence axis) for the six stop
words a tram driver console listens for, plus _unknown_ and _silence_.
Clips are synthetic 20-band x 40-frame log energies. After each epoch the
model also runs over a two-minute synthetic announcement stream (sliding
window, smoothed posteriors, refractory period) and we report keyword hits
and false accepts per hour, the numbers the depot actually asks about.
"""
import os
from functools import partial
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
BANDS, FRAMES = 20, 40
WORDS = ["depot", "market", "bridge", "museum", "harbour", "college"]
LABELS = WORDS + ["_unknown_", "_silence_"]
N_CLS = len(LABELS)

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

# ---- syllable templates: each word is 3 syllables, each a (band, width) blob
SYL_BANK = [(b, w) for b in range(2, 18, 2) for w in (1.5, 2.5)]
WORD_SYL = [rng.choice(len(SYL_BANK), size=3, replace=False) for _ in WORDS]


def render(syl_ids, length, noise, spk_shift, gain):
    """Render a sequence of syllables into a (length, BANDS) log-energy patch."""
    x = np.zeros((length, BANDS), dtype=np.float32)
    bands = np.arange(BANDS)[None, :]
    n = len(syl_ids)
    span = length * rng.uniform(0.55, 0.85)
    start = rng.uniform(0, length - span)
    for j, s in enumerate(syl_ids):
        b, w = SYL_BANK[s]
        centre_t = start + span * (j + 0.5) / n
        t = np.arange(length)[:, None]
        blob = np.exp(-0.5 * ((bands - (b + spk_shift)) / w) ** 2)
        env = np.exp(-0.5 * ((t - centre_t) / (span / n * 0.35)) ** 2)
        x += gain * blob * env
    x += noise * rng.standard_normal(x.shape).astype(np.float32)
    # crude pink tilt of the background
    x += noise * 0.6 * np.linspace(1.0, 0.2, BANDS)[None, :] * rng.standard_normal((length, 1))
    return x


def make_clip(label):
    spk = rng.uniform(-1.2, 1.2)
    gain = rng.uniform(0.7, 1.3)
    noise = rng.uniform(0.15, 0.45)
    if label < len(WORDS):
        syl = WORD_SYL[label]
    elif label == len(WORDS):  # unknown: random syllables, never a known word
        while True:
            syl = rng.choice(len(SYL_BANK), size=rng.integers(2, 4), replace=False)
            if not any(len(syl) == 3 and np.all(syl == w) for w in WORD_SYL):
                break
    else:
        syl = []
    return render(syl, FRAMES, noise, spk, gain)


def make_set(n):
    probs = np.array([0.1] * len(WORDS) + [0.25, 0.15])
    y = rng.choice(N_CLS, size=n, p=probs / probs.sum())
    x = np.stack([make_clip(int(c)) for c in y])
    return x, y.astype(np.int32)


def make_stream(seconds=120, fps=100, n_words=18):
    length = seconds * fps
    s = 0.3 * rng.standard_normal((length, BANDS)).astype(np.float32)
    events = []
    slots = np.sort(rng.choice(np.arange(1, length // 300 - 1), size=n_words, replace=False)) * 300
    for pos in slots:
        w = int(rng.integers(len(WORDS)))
        s[pos:pos + FRAMES] += make_clip(w) - 0.0
        events.append((int(pos), w))
    # a few unknown-word distractors between the keywords
    for pos in rng.choice(np.arange(length // 300 - 1), size=10, replace=False) * 300 + 150:
        s[pos:pos + FRAMES] += make_clip(len(WORDS))
    return s, events, seconds / 3600.0


# ---- model
class TCBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv1d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.b1 = nn.BatchNorm(cout)
        self.c2 = nn.Conv1d(cout, cout, 3, padding=1, bias=False)
        self.b2 = nn.BatchNorm(cout)
        self.skip = nn.Conv1d(cin, cout, 1, stride=stride, bias=False)
        self.bs = nn.BatchNorm(cout)

    def __call__(self, x):
        h = nn.relu(self.b1(self.c1(x)))
        h = self.b2(self.c2(h))
        return nn.relu(h + self.bs(self.skip(x)))


class TCNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv1d(BANDS, 16, 3, padding=1, bias=False)
        self.blocks = [TCBlock(16, 24, 2), TCBlock(24, 32, 2)]
        self.drop = nn.Dropout(0.1)
        self.head = nn.Linear(32, N_CLS)

    def __call__(self, x):
        h = self.stem(x)
        for b in self.blocks:
            h = b(h)
        return self.head(self.drop(h.mean(axis=1)))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def make_step(model, opt):
    vg = nn.value_and_grad(model, loss_fn)
    state = [model.state, opt.state, mx.random.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = vg(model, xb, yb)
        opt.update(model, grads)
        return loss

    return step


def evaluate(model, x, y):
    model.eval()
    logits = model(mx.array(x))
    ce = nn.losses.cross_entropy(logits, mx.array(y), reduction="mean").item()
    acc = (mx.argmax(logits, axis=1) == mx.array(y)).astype(mx.float32).mean().item()
    model.train()
    return ce, acc


def stream_eval(model, stream, events, hours, hop=4, thr=0.75, refractory=60):
    model.eval()
    starts = np.arange(0, stream.shape[0] - FRAMES, hop)
    wins = np.stack([stream[s:s + FRAMES] for s in starts])
    probs = []
    for i in range(0, len(wins), 512):
        probs.append(mx.softmax(model(mx.array(wins[i:i + 512])), axis=1))
    p = np.array(mx.concatenate(probs, axis=0))
    model.train()
    # smooth posteriors over 3 windows
    k = 3
    ps = np.stack([np.convolve(p[:, c], np.ones(k) / k, mode="same") for c in range(N_CLS)], axis=1)
    dets, last = [], -10**9
    for i, s in enumerate(starts):
        c = int(np.argmax(ps[i, :len(WORDS)]))
        if ps[i, c] > thr and s - last > refractory:
            dets.append((int(s), c))
            last = s
    hit, used = 0, set()
    fa = 0
    for s, c in dets:
        match = None
        for j, (pos, w) in enumerate(events):
            if j not in used and abs(s - pos) <= FRAMES // 2 and w == c:
                match = j
                break
        if match is None:
            fa += 1
        else:
            used.add(match)
            hit += 1
    return hit / len(events), fa / hours


def main():
    t0 = time.time()
    xtr, ytr = make_set(2000)
    xva, yva = make_set(1200)
    stream, events, hours = make_stream()
    majority = np.bincount(yva, minlength=N_CLS).max() / len(yva)
    print(f"tram-loop KWS  train {len(ytr)} clips  valid {len(yva)} clips  "
          f"stream {hours*60:.0f} min with {len(events)} stop words")
    print(f"reference: majority-class valid acc {majority:.3f}   chance CE {np.log(N_CLS):.3f}")

    batch, epochs, ckpt_epoch = 50, 8, 4
    steps_per_epoch = len(ytr) // batch
    warm = 100
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.step_decay(2e-3, 0.3, 3 * steps_per_epoch)],
        [warm])

    def build():
        m = TCNet()
        o = optim.Adam(learning_rate=sched)
        return m, o

    model, opt = build()
    mx.eval(model.parameters())
    nparam = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"TCNet {nparam} trainable weights; lr warms from 0 over {warm} steps, x0.3 every 3 epochs")
    step_fn = make_step(model, opt)

    ckdir = tempfile.mkdtemp(prefix="tramkws_")
    print(f"{'ep':>3} {'lr_end':>9} {'train_ce':>9} {'valid_ce':>9} {'valid_acc':>9} "
          f"{'hits':>6} {'FA/h':>7} {'sec':>5}")
    ep = 0
    while ep < epochs:
        ep += 1
        perm = rng.permutation(len(ytr))
        run = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * batch:(i + 1) * batch]
            xb, yb = mx.array(xtr[idx]), mx.array(ytr[idx])
            loss = step_fn(xb, yb)
            mx.eval(model.state, opt.state, loss)
            run += loss.item()
        vce, vacc = evaluate(model, xva, yva)
        quiet = 2 <= ep <= 3
        if not quiet:
            hits, fah = stream_eval(model, stream, events, hours)
            lr_now = sched(opt.step).item()
            print(f"{ep:>3} {lr_now:>9.2e} {run/steps_per_epoch:>9.4f} {vce:>9.4f} {vacc:>9.3f} "
                  f"{hits:>6.2f} {fah:>7.0f} {time.time()-t0:>5.1f}")
        if ep == ckpt_epoch:
            model.save_weights(os.path.join(ckdir, "kws.safetensors"))
            mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"),
                                dict(tree_flatten(opt.state)))
            ref_ce = vce
            del model, opt, step_fn
            model, opt = build()
            model.load_weights(os.path.join(ckdir, "kws.safetensors"))
            opt.init(model.trainable_parameters())
            opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
            step_fn = make_step(model, opt)
            rce, _ = evaluate(model, xva, yva)
            print(f"--- checkpoint written and reloaded after epoch {ep}: optimizer step "
                  f"{int(opt.step)}, valid_ce saved {ref_ce:.4f} / reloaded {rce:.4f}")

    vce, vacc = evaluate(model, xva, yva)
    hits, fah = stream_eval(model, stream, events, hours)
    print(f"final: valid acc {vacc:.3f} (majority {majority:.3f}), stop-word hits {hits:.2f}, "
          f"{fah:.0f} false accepts per hour of stream")


if __name__ == "__main__":
    main()
