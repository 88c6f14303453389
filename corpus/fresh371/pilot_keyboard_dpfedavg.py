"""Harbour-pilot radio keyboard: next-character model trained across handsets.

Each handset only keeps its own typed radio log.  The coordinator runs
DP-FedAvg rounds (per-handset update clipping with an adaptive clip norm that
tracks the median update norm, Gaussian noise on the clipped sum), handsets
that miss the round deadline are left out, the coordinator state is written to
disk half way and the run resumes from that file.  At the end every handset
fine-tunes only the output head on its own log.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten, tree_map

SEED = 7
CTX = 6
N_DEV = 8
PER_ROUND = 5
ROUNDS = 24
RESUME_AT = 12
LOCAL_EPOCHS = 2
CLIENT_LR = 0.6
BATCH = 128
NOISE_MULT = 0.02          # noise std = NOISE_MULT * clip / participants
TARGET_Q = 0.5             # adaptive clip aims at the median update norm
CLIP_LR = 0.2
DEADLINE = 1.0

WORDS = ("pilot aboard starboard port berth tug line fast slow ahead astern "
         "dead knots channel buoy green red anchor heave let go standby "
         "swing basin lock gate tide high low wind gust east west north "
         "south over out roger confirm dredger ferry tanker").split()

rng = np.random.default_rng(SEED)
ALPHA = sorted(set("".join(WORDS)) | {" ", "."})
STOI = {c: i for i, c in enumerate(ALPHA)}
V = len(ALPHA)


def device_text(pref, n_sent, r):
    out = []
    for _ in range(n_sent):
        k = r.integers(3, 7)
        ws = r.choice(len(WORDS), size=k, p=pref)
        out.append(" ".join(WORDS[w] for w in ws) + ".")
    return " ".join(out)


def windows(text):
    ids = np.array([STOI[c] for c in text], dtype=np.int32)
    idx = np.arange(CTX)[None, :] + np.arange(len(ids) - CTX)[:, None]
    return ids[idx], ids[CTX:]


devices = []
for d in range(N_DEV):
    pref = rng.dirichlet(np.full(len(WORDS), 0.15))
    n_train = int(rng.integers(60, 170))
    tr = windows(device_text(pref, n_train, rng))
    te = windows(device_text(pref, 60, rng))
    speed = float(rng.uniform(0.4, 1.0)) if d != 5 else 0.35   # handset 5 is old
    devices.append(dict(train=tr, test=te, n=len(tr[1]), speed=speed))

test_x = mx.array(np.concatenate([d["test"][0] for d in devices]))
test_y = mx.array(np.concatenate([d["test"][1] for d in devices]))

# unigram reference on the pooled training text
counts = np.bincount(np.concatenate([d["train"][1] for d in devices]), minlength=V) + 1.0
uni = counts / counts.sum()
uni_ce = float(-np.log(uni[np.array(test_y)]).mean())


class CharNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, 12)
        self.body = nn.Linear(CTX * 12, 96)
        self.head = nn.Linear(96, V)

    def __call__(self, x):
        h = self.embed(x).reshape(x.shape[0], -1)
        return self.head(nn.gelu(self.body(h)))


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y):
    logits = model(x)
    loss = nn.losses.cross_entropy(logits, y, reduction="mean")
    top3 = mx.argsort(-logits, axis=-1)[:, :3]
    hit = (top3 == y[:, None]).any(axis=-1).mean()
    return loss.item(), 100.0 * hit.item()


def flat(params):
    return mx.concatenate([v.reshape(-1) for _, v in tree_flatten(params)])


def local_update(global_params, dev, r):
    model = CharNet()
    model.update(tree_map(lambda a: mx.array(a), global_params))
    opt = optim.SGD(learning_rate=CLIENT_LR)
    step = nn.value_and_grad(model, ce)
    x, y = dev["train"]
    last = 0.0
    for _ in range(LOCAL_EPOCHS):
        perm = r.permutation(len(y))
        for s in range(0, len(y), BATCH):
            b = perm[s:s + BATCH]
            loss, g = step(model, mx.array(x[b]), mx.array(y[b]))
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state)
            last = loss.item()
    delta = tree_map(lambda a, b: a - b, model.parameters(), global_params)
    return delta, last


class Coordinator:
    def __init__(self, model, clip, seed):
        self.model = model
        self.clip = clip
        self.round = 0
        self.rng = np.random.default_rng(seed)
        self.key = mx.random.key(seed)

    def run_round(self):
        gp = self.model.parameters()
        chosen = self.rng.choice(N_DEV, size=PER_ROUND, replace=False)
        summed, norms, kept, dropped, client_losses = None, [], 0, 0, []
        for d in chosen:
            dev = devices[d]
            latency = (dev["n"] / 6000.0) / dev["speed"] * self.rng.uniform(0.8, 1.2)
            if latency > DEADLINE:
                dropped += 1
                continue
            delta, last = local_update(gp, dev, self.rng)
            norm = math.sqrt(float(mx.sum(flat(delta) ** 2).item()))
            scale = min(1.0, self.clip / (norm + 1e-12))
            delta = tree_map(lambda a: a * scale, delta)
            summed = delta if summed is None else tree_map(lambda a, b: a + b, summed, delta)
            norms.append(norm)
            client_losses.append(last)
            kept += 1
        if kept == 0:
            self.round += 1
            return dict(kept=0, dropped=dropped)
        self.key, sub = mx.random.split(self.key)
        leaves = tree_flatten(summed)
        subs = mx.random.split(sub, len(leaves))
        sigma = NOISE_MULT * self.clip
        noisy = [(k, (v + sigma * mx.random.normal(v.shape, key=subs[i])) / kept)
                 for i, (k, v) in enumerate(leaves)]
        new = tree_map(lambda a, b: a + b, gp, tree_unflatten(noisy))
        self.model.update(new)
        mx.eval(self.model.parameters())
        frac_below = float(np.mean([n <= self.clip for n in norms]))
        old_clip = self.clip
        self.clip = self.clip * math.exp(-CLIP_LR * (frac_below - TARGET_Q))
        self.round += 1
        return dict(kept=kept, dropped=dropped, clip=old_clip,
                    med_norm=float(np.median(norms)),
                    client=float(np.mean(client_losses)))

    def save(self, path):
        arrays = dict(tree_flatten(self.model.parameters()))
        arrays["_clip"] = mx.array(self.clip)
        arrays["_round"] = mx.array(self.round)
        arrays["_key"] = self.key
        mx.savez(path, **arrays)
        return self.rng.bit_generator.state

    @classmethod
    def load(cls, path, rng_state):
        data = mx.load(path)
        model = CharNet()
        model.update(tree_unflatten([(k, v) for k, v in data.items() if not k.startswith("_")]))
        c = cls(model, float(data["_clip"].item()), 0)
        c.round = int(data["_round"].item())
        c.key = data["_key"]
        c.rng.bit_generator.state = rng_state
        return c


def main():
    t0 = time.time()
    mx.random.seed(SEED)
    sizes = [d["n"] for d in devices]
    print(f"handsets {N_DEV}, windows per handset {min(sizes)}..{max(sizes)}, "
          f"alphabet {V}, context {CTX}")
    print(f"reference: unigram test ce {uni_ce:.3f}  uniform {math.log(V):.3f}")

    model = CharNet()
    mx.eval(model.parameters())
    l0, a0 = evaluate(model, test_x, test_y)
    print(f"round 00 | untrained           | test ce {l0:.3f} top3 {a0:5.1f}%")

    coord = Coordinator(model, clip=1.0, seed=SEED)
    ckpt_dir = tempfile.mkdtemp(prefix="pilot_kbd_")
    report = {1, 2, 3, 6, 9, 12, 13, 18, 24}
    while coord.round < ROUNDS:
        info = coord.run_round()
        r = coord.round
        if r in report:
            l, a = evaluate(coord.model, test_x, test_y)
            if info["kept"]:
                print(f"round {r:02d} | kept {info['kept']} late {info['dropped']} | "
                      f"clip {info['clip']:.3f} med|d| {info['med_norm']:.3f} | "
                      f"client ce {info['client']:.3f} | test ce {l:.3f} top3 {a:5.1f}%")
            else:
                print(f"round {r:02d} | no handset met the deadline | test ce {l:.3f}")
        if r == RESUME_AT:
            path = os.path.join(ckpt_dir, "coord.npz")
            before = evaluate(coord.model, test_x, test_y)[0]
            rng_state = coord.save(path)
            del coord
            coord = Coordinator.load(path, rng_state)
            after = evaluate(coord.model, test_x, test_y)[0]
            print(f"checkpoint written and reloaded at round {r}: "
                  f"test ce {before:.4f} -> {after:.4f}, clip {coord.clip:.3f}")

    gl, ga = evaluate(coord.model, test_x, test_y)
    print(f"federated model: test ce {gl:.3f} (unigram {uni_ce:.3f}), top3 {ga:.1f}%")

    # per-handset head fine-tuning
    print("handset | windows | global ce | tuned ce | unigram ce")
    gains = []
    for i, dev in enumerate(devices):
        m = CharNet()
        m.update(tree_map(lambda a: mx.array(a), coord.model.parameters()))
        m.freeze()
        m.head.unfreeze()
        opt = optim.Adam(learning_rate=3e-3)
        step = nn.value_and_grad(m, ce)
        x, y = dev["train"]
        tx, ty = mx.array(dev["test"][0]), mx.array(dev["test"][1])
        before = evaluate(m, tx, ty)[0]
        r = np.random.default_rng(100 + i)
        for _ in range(60):
            b = r.integers(0, len(y), size=BATCH)
            _, g = step(m, mx.array(x[b]), mx.array(y[b]))
            opt.update(m, g)
            mx.eval(m.trainable_parameters(), opt.state)
        after = evaluate(m, tx, ty)[0]
        cnt = np.bincount(y, minlength=V) + 1.0
        u = float(-np.log((cnt / cnt.sum())[np.array(ty)]).mean())
        gains.append(before - after)
        print(f"   {i}    | {dev['n']:7d} | {before:9.3f} | {after:8.3f} | {u:9.3f}")
    print(f"mean head-tuning gain {np.mean(gains):.3f} nats; total {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
