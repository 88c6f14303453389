"""Mail-sorting office: route each letter to one of 6 sorting frames.

Data arrives as "sacks" of uneven size (streamed shards). A shuffle buffer mixes letters
across sacks, batches of 64 cross sack boundaries, and the short last batch of each pass
is kept. Training is stopped mid-pass, the model / optimizer / loader cursor are saved,
everything is rebuilt from the files and the pass is finished from where it stopped.
Log lines are dmesg-style: [ seconds] subsystem: message.
"""
import hashlib
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

T0 = time.time()
N_FRAMES = 6
N_FEAT = 10


def log(sub, msg):
    print(f"[{time.time() - T0:10.6f}] {sub}: {msg}")


ROUTING = np.random.default_rng(2024).normal(size=(N_FEAT, N_FRAMES)) * 1.4


def make_office(seed, n_sacks):
    """Synthetic letters: features from postcode district, weight, size, franking."""
    rng = np.random.default_rng(seed)
    W = ROUTING
    sacks = []
    next_id = 0
    for _ in range(n_sacks):
        n = int(rng.integers(37, 121))
        x = rng.normal(size=(n, N_FEAT)).astype(np.float32)
        logits = x @ W + rng.gumbel(size=(n, N_FRAMES)) * 0.9  # ambiguous addresses
        y = logits.argmax(1).astype(np.int32)
        ids = np.arange(next_id, next_id + n)
        next_id += n
        sacks.append((ids, x, y))
    return sacks


class SackStream:
    """Streams sacks in a per-pass shuffled order through a shuffle buffer."""

    def __init__(self, sacks, batch_size, buffer_size, seed):
        self.sacks = sacks
        self.batch_size = batch_size
        self.buffer_size = buffer_size
        self.rng = np.random.default_rng(seed)
        self.pass_no = 0
        self._start_pass()

    def _start_pass(self):
        self.sack_order = self.rng.permutation(len(self.sacks)).tolist()
        self.sack_pos = 0
        self.buffer = []  # list of (sack_index, row)

    def _fill(self):
        while len(self.buffer) < self.buffer_size and self.sack_pos < len(self.sack_order):
            s = self.sack_order[self.sack_pos]
            self.sack_pos += 1
            self.buffer.extend((s, r) for r in range(len(self.sacks[s][0])))

    def next_batch(self):
        """Returns (ids, x, y, end_of_pass)."""
        self._fill()
        take = []
        while len(take) < self.batch_size:
            if not self.buffer:
                self._fill()
                if not self.buffer:
                    break
            j = int(self.rng.integers(len(self.buffer)))
            self.buffer[j], self.buffer[-1] = self.buffer[-1], self.buffer[j]
            take.append(self.buffer.pop())
            if len(self.buffer) < self.buffer_size // 2:
                self._fill()
        ids = np.array([self.sacks[s][0][r] for s, r in take])
        x = np.stack([self.sacks[s][1][r] for s, r in take])
        y = np.array([self.sacks[s][2][r] for s, r in take])
        end = not self.buffer and self.sack_pos >= len(self.sack_order)
        if end:
            self.pass_no += 1
            self._start_pass()
        return ids, x, y, end

    def state(self):
        return {
            "pass_no": self.pass_no,
            "sack_order": self.sack_order,
            "sack_pos": self.sack_pos,
            "buffer": [[int(s), int(r)] for s, r in self.buffer],
            "rng": self.rng.bit_generator.state,
        }

    def load_state(self, st):
        self.pass_no = st["pass_no"]
        self.sack_order = st["sack_order"]
        self.sack_pos = st["sack_pos"]
        self.buffer = [tuple(p) for p in st["buffer"]]
        self.rng.bit_generator.state = st["rng"]


class FrameRouter(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, N_FRAMES)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y):
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean").item()
    acc = (logits.argmax(1) == y).astype(mx.float32).mean().item()
    return ce, acc


def build(seed_model, total_steps):
    mx.random.seed(seed_model)
    model = FrameRouter()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, 40), optim.cosine_decay(2e-3, total_steps - 40, 1e-4)],
        [40],
    )
    opt = optim.Adam(learning_rate=sched)
    mx.eval(model.parameters())
    return model, opt


def main():
    sacks = make_office(11, 40)
    n_letters = sum(len(s[0]) for s in sacks)
    val = make_office(12, 10)
    vx = mx.array(np.concatenate([s[1] for s in val]))
    vy = mx.array(np.concatenate([s[2] for s in val]))
    counts = np.bincount(np.concatenate([s[2] for s in sacks]), minlength=N_FRAMES)
    majority = (np.concatenate([s[2] for s in val]) == counts.argmax()).mean()
    log("office", f"{len(sacks)} sacks, {n_letters} letters, val {vx.shape[0]}, frames {N_FRAMES}")
    log("office", f"majority-frame baseline val_acc {majority:.3f}")

    passes = 8
    steps_per_pass = int(np.ceil(n_letters / 64))
    total_steps = passes * steps_per_pass
    stop_at = int(4.5 * steps_per_pass)
    ckpt_dir = tempfile.mkdtemp()

    model, opt = build(3, total_steps)
    stream = SackStream(sacks, 64, 256, seed=5)
    step_fn = nn.value_and_grad(model, loss_fn)
    seen = []
    pass_loss = []
    step = 0
    session = 1
    ce0, acc0 = evaluate(model, vx, vy)
    log("router", f"untrained val_ce {ce0:.4f} val_acc {acc0:.3f} (ln6 = {np.log(6):.4f})")

    while stream.pass_no < passes:
        ids, x, y, end = stream.next_batch()
        lr_now = opt.learning_rate.item()
        loss, grads = step_fn(model, mx.array(x), mx.array(y))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        seen.extend(ids.tolist())
        pass_loss.append((loss.item(), len(ids)))
        if step == 1:
            log("router", f"step 1 lr {lr_now:.6f} loss {loss.item():.4f} batch {len(ids)}")
        if end:
            p = stream.pass_no - 1
            uniq = len(set(seen))
            digest = hashlib.sha1(np.sort(np.array(seen)).tobytes()).hexdigest()[:10]
            ce, acc = evaluate(model, vx, vy)
            tr = sum(l * n for l, n in pass_loss) / sum(n for _, n in pass_loss)
            log("loader", f"pass {p} done: {len(seen)} letters, {uniq} unique, last batch {len(ids)}, ids sha1 {digest}")
            log("router", f"pass {p} step {step} lr {lr_now:.6f} train_ce {tr:.4f} val_ce {ce:.4f} val_acc {acc:.3f}")
            seen = []
            pass_loss = []
        if step == stop_at and session == 1:
            model.save_weights(os.path.join(ckpt_dir, "router.safetensors"))
            mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
            with open(os.path.join(ckpt_dir, "loader.json"), "w") as f:
                json.dump({"stream": stream.state(), "step": step, "seen": seen, "pass_loss": pass_loss}, f)
            log("ckpt", f"saved at step {step} (pass {stream.pass_no}, sack {stream.sack_pos}/{len(sacks)}, buffer {len(stream.buffer)})")
            del model, opt, stream, step_fn
            model, opt = build(99, total_steps)
            model.load_weights(os.path.join(ckpt_dir, "router.safetensors"))
            opt.init(model.trainable_parameters())
            opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
            with open(os.path.join(ckpt_dir, "loader.json")) as f:
                st = json.load(f)
            stream = SackStream(sacks, 64, 256, seed=12345)
            stream.load_state(st["stream"])
            seen = st["seen"]
            pass_loss = [tuple(v) for v in st["pass_loss"]]
            step_fn = nn.value_and_grad(model, loss_fn)
            session = 2
            ce, acc = evaluate(model, vx, vy)
            log("ckpt", f"resumed at step {st['step']} val_ce {ce:.4f} val_acc {acc:.3f} lr {opt.learning_rate.item():.6f}")

    ce, acc = evaluate(model, vx, vy)
    log("router", f"final step {step} val_ce {ce:.4f} val_acc {acc:.3f} majority {majority:.3f}")


if __name__ == "__main__":
    main()
