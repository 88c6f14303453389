"""Ferry-port phrasebook: one frozen next-word model, two adapter banks.

The base model predicts the next phrasebook word from the two previous words.
It is pretrained on the harbour-office ("neutral") phrasebook and then frozen.
Two ports, north and south, use the same phrasebook except that a handful of
words are swapped.  Each port gets its own adapter bank (a bottleneck adapter
after the hidden layer plus a rank-8 LoRA on the output head); the banks are
trained round-robin, one step each, with separate Adam optimizers.

Every phrasebook is transcribed by hand and 15% of the next words are random,
so the best possible cross-entropy is the noise floor printed below, not zero.
"""

import math
import os
import shutil
import tempfile
import time

from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

V = 20          # phrasebook words
NOISE = 0.15    # transcription noise
HID = 64
BATCH = 256


def noise_floor(v, eps):
    p_hit = 1.0 - eps + eps / v
    p_miss = eps / v
    return -(p_hit * math.log(p_hit) + (v - 1) * p_miss * math.log(p_miss))


def make_rules(rng):
    neutral = rng.permutation(V)
    ports = {}
    for name in ("north", "south"):
        perm = neutral.copy()
        words = rng.choice(V, size=8, replace=False)
        for i in range(0, 8, 2):
            a, b = words[i], words[i + 1]
            ia, ib = np.where(perm == a)[0][0], np.where(perm == b)[0][0]
            perm[ia], perm[ib] = perm[ib], perm[ia]
        ports[name] = perm
    return neutral, ports


def sample(rng, perm, n):
    a = rng.integers(0, V, n)
    b = rng.integers(0, V, n)
    y = perm[(3 * a + b) % V]
    flip = rng.random(n) < NOISE
    y = np.where(flip, rng.integers(0, V, n), y)
    x = np.stack([a, b], axis=1).astype(np.int32)
    return mx.array(x), mx.array(y.astype(np.int32))


class Bank(nn.Module):
    """Bottleneck adapter on the hidden state + LoRA on the output head."""

    def __init__(self, hid, bottleneck=16, rank=8, alpha=16.0):
        super().__init__()
        self.down = nn.Linear(hid, bottleneck)
        self.up = nn.Linear(bottleneck, hid)
        self.up.weight = mx.zeros_like(self.up.weight)
        self.up.bias = mx.zeros_like(self.up.bias)
        bound = 1.0 / math.sqrt(hid)
        self.lora_a = mx.random.uniform(-bound, bound, (hid, rank))
        self.lora_b = mx.zeros((rank, V))
        self.scale = alpha / rank

    def adapt_hidden(self, h):
        return h + self.up(nn.gelu(self.down(h)))

    def head_delta(self, h):
        return self.scale * ((h @ self.lora_a) @ self.lora_b)


class PhraseModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, 24)
        self.hidden = nn.Linear(48, HID)
        self.head = nn.Linear(HID, V)
        self.banks = [Bank(HID), Bank(HID)]

    def __call__(self, x, bank=None):
        e = self.embed(x).reshape(x.shape[0], -1)
        h = nn.gelu(self.hidden(e))
        if bank is None:
            return self.head(h)
        b = self.banks[bank]
        h = b.adapt_hidden(h)
        return self.head(h) + b.head_delta(h)


def ce(model, x, y, bank):
    return nn.losses.cross_entropy(model(x, bank), y, reduction="mean")


def evaluate(model, data, bank):
    x, y = data
    return ce(model, x, y, bank).item()


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    neutral, ports = make_rules(rng)
    floor = noise_floor(V, NOISE)
    uniform = math.log(V)
    print(f"noise floor {floor:.3f} nats, uniform guess {uniform:.3f} nats")

    held = {
        "neutral": sample(np.random.default_rng(100), neutral, 4000),
        "north": sample(np.random.default_rng(101), ports["north"], 4000),
        "south": sample(np.random.default_rng(102), ports["south"], 4000),
    }

    # ------------------------------------------------ base pretraining (quiet)
    model = PhraseModel()
    for b in model.banks:  # banks stay idle while the base learns
        b.freeze()
    base_opt = optim.AdamW(learning_rate=optim.cosine_decay(3e-3, 900, 3e-4),
                           weight_decay=0.01)
    base_vg = nn.value_and_grad(model, lambda m, x, y: ce(m, x, y, None))
    base_state = [model.state, base_opt.state]

    @partial(mx.compile, inputs=base_state, outputs=base_state)
    def base_step(x, y):
        loss, g = base_vg(model, x, y)
        base_opt.update(model, g)
        return loss

    t0 = time.time()
    for step in range(900):
        x, y = sample(rng, neutral, BATCH)
        base_step(x, y)
        mx.eval(base_state)
    print(f"base pretrained quietly in {time.time() - t0:.1f}s: neutral held-out "
          f"{evaluate(model, held['neutral'], None):.3f} (floor {floor:.3f})")
    base_port = {p: evaluate(model, held[p], None) for p in ("north", "south")}
    print(f"base on ports: north {base_port['north']:.3f}, "
          f"south {base_port['south']:.3f}")

    # ------------------------------------------------ adapter banks
    model.freeze()
    model.banks[0].unfreeze()
    model.banks[1].unfreeze()
    base_before = {k: np.array(v) for k, v in tree_flatten(model.parameters())
                   if not k.startswith("banks")}
    n_bank = sum(v.size for _, v in tree_flatten(model.banks[0].trainable_parameters()))
    print(f"each bank trains {n_bank} parameters")

    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 4e-3, 40), optim.cosine_decay(4e-3, 560, 2e-4)],
        [40],
    )
    opts = [optim.Adam(learning_rate=sched), optim.Adam(learning_rate=sched)]
    names = ["north", "south"]
    steps = []
    for bi in range(2):
        vg = nn.value_and_grad(model, lambda m, x, y, _b=bi: ce(m, x, y, _b))
        st = [model.state, opts[bi].state]

        def make(vg=vg, bi=bi, st=st):
            @partial(mx.compile, inputs=st, outputs=st)
            def f(x, y):
                loss, g = vg(model, x, y)
                opts[bi].update(model.banks[bi], g["banks"][bi])
                return loss
            return f

        steps.append((make(), st))

    run = [0.0, 0.0]
    t0 = time.time()
    for it in range(1, 601):
        for bi in range(2):
            x, y = sample(rng, ports[names[bi]], BATCH)
            fn, st = steps[bi]
            loss = fn(x, y)
            mx.eval(st, loss)
            run[bi] += loss.item()
        if it == 1:
            print(f"round 1: lr {opts[0].learning_rate.item():.1e} "
                  f"north {run[0]:.3f} south {run[1]:.3f}")
            run = [0.0, 0.0]
        elif it <= 200 and it % 40 == 0:
            vn = evaluate(model, held["north"], 0)
            vs = evaluate(model, held["south"], 1)
            print(f"round {it:3d}: lr {opts[0].learning_rate.item():.1e} "
                  f"train north {run[0] / 40:.3f} south {run[1] / 40:.3f} | "
                  f"held north {vn:.3f} south {vs:.3f} | floor {floor:.3f}")
            run = [0.0, 0.0]
        elif it == 200:
            run = [0.0, 0.0]
        elif it == 600:
            print(f"(rounds 201-600 ran without logging, {time.time() - t0:.1f}s "
                  f"so far) last-400 mean train north {run[0] / 400:.3f} "
                  f"south {run[1] / 400:.3f}")

    drift = max(float(np.max(np.abs(np.array(v) - base_before[k])))
                for k, v in tree_flatten(model.parameters())
                if not k.startswith("banks"))
    print(f"frozen base max drift: {drift:.1e}")

    # ------------------------------------------------ cross-evaluation
    print("cross-evaluation (rows: bank used, cols: port data), nats")
    print("            north    south")
    matrix = {}
    for bi, bn in enumerate(names):
        row = [evaluate(model, held[p], bi) for p in names]
        matrix[bn] = row
        print(f"  {bn:6s}   {row[0]:.3f}    {row[1]:.3f}")
    for bi, bn in enumerate(names):
        gain = matrix[bn][bi] - base_port[bn]
        print(f"{bn}: own bank {matrix[bn][bi]:.3f} vs base {base_port[bn]:.3f} "
              f"(change {gain:+.3f}), gap to floor {matrix[bn][bi] - floor:+.3f}")

    # ------------------------------------------------ save / reload banks
    workdir = tempfile.mkdtemp(suffix="_ferryport")
    base_file = os.path.join(workdir, "base.safetensors")
    base_w = {k: v for k, v in tree_flatten(model.parameters())
              if not k.startswith("banks")}
    mx.save_safetensors(base_file, base_w)
    for bi, bn in enumerate(names):
        w = dict(tree_flatten(model.banks[bi].parameters()))
        mx.save_safetensors(os.path.join(workdir, f"bank_{bn}.safetensors"), w)

    fresh = PhraseModel()
    fresh.load_weights(base_file, strict=False)
    for bi, bn in enumerate(names):
        fresh.banks[bi].load_weights(os.path.join(workdir, f"bank_{bn}.safetensors"))
    re = [evaluate(fresh, held[bn], bi) for bi, bn in enumerate(names)]
    print(f"reloaded from {len(os.listdir(workdir))} files: north {re[0]:.3f} "
          f"south {re[1]:.3f} (before save {matrix['north'][0]:.3f} "
          f"{matrix['south'][1]:.3f})")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
