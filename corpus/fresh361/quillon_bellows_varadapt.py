# Audiobook narration acoustic model: phoneme encoder -> variance adaptor (log-duration and
# pitch heads) -> length regulator (gather by repeated indices) -> conv mel decoder.
# SGD with Nesterov momentum under cosine warm restarts; the run checkpoints after the second
# cycle, rebuilds model + optimizer from disk and finishes the last cycle.
import os
import tempfile
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)
N_PH, N_MEL, L_TXT, BATCH = 20, 12, 8, 16
PH_MEL = rng.normal(0, 1, (N_PH, N_MEL)).astype(np.float32)
PH_DUR = rng.integers(2, 8, N_PH).astype(np.float32)
PH_PITCH = rng.normal(0, 1, N_PH).astype(np.float32)


def sample(n):
    toks = rng.integers(0, N_PH, (n, L_TXT))
    stress = rng.integers(0, 2, (n, L_TXT))                     # stressed syllables last longer and sit higher
    durs = np.maximum(1, np.round(PH_DUR[toks] * (1 + 0.5 * stress) + rng.normal(0, 0.4, toks.shape))).astype(np.int64)
    pitch = PH_PITCH[toks] + 0.8 * stress + rng.normal(0, 0.1, toks.shape)
    T = int(durs.sum(1).max())
    idx = np.zeros((n, T), np.int64)
    mask = np.zeros((n, T), np.float32)
    mel = np.zeros((n, T, N_MEL), np.float32)
    for i in range(n):
        rep = np.repeat(np.arange(L_TXT), durs[i])
        idx[i, : len(rep)] = rep
        mask[i, : len(rep)] = 1
        base = PH_MEL[toks[i, rep]] + 0.3 * pitch[i, rep][:, None]
        mel[i, : len(rep)] = base + rng.normal(0, 0.1, base.shape)
    return toks, stress, durs, pitch.astype(np.float32), idx, mask, mel


class Acoustic(nn.Module):
    def __init__(self, h=32):
        super().__init__()
        self.ph = nn.Embedding(N_PH, h)
        self.st = nn.Embedding(2, h)
        self.enc = [nn.Conv1d(h, h, 3, padding=1) for _ in range(2)]
        self.dur_head = nn.Linear(h, 1)
        self.pitch_head = nn.Linear(h, 1)
        self.pitch_in = nn.Linear(1, h)
        self.dec = [nn.Conv1d(h, h, 5, padding=2) for _ in range(2)]
        self.out = nn.Linear(h, N_MEL)

    def __call__(self, toks, stress, idx, pitch_target):
        x = self.ph(toks) + self.st(stress)
        for c in self.enc:
            x = x + nn.relu(c(x))
        log_d = self.dur_head(x).squeeze(-1)
        p = self.pitch_head(x).squeeze(-1)
        x = x + self.pitch_in(pitch_target[..., None])          # teacher-forced pitch
        y = mx.take_along_axis(x, idx[..., None], axis=1)        # length regulator
        for c in self.dec:
            y = y + nn.relu(c(y))
        return self.out(y), log_d, p


def loss_fn(model, toks, stress, durs, pitch, idx, mask, mel):
    m, log_d, p = model(toks, stress, idx, pitch)
    l_mel = (mx.abs(m - mel).sum(-1) * mask).sum() / (mask.sum() * N_MEL)
    l_dur = ((log_d - mx.log(durs.astype(mx.float32))) ** 2).mean()
    l_pitch = ((p - pitch) ** 2).mean()
    return l_mel + l_dur + l_pitch, (l_mel, l_dur, l_pitch)


CYCLES = [60, 90, 120]
PEAK = 0.05


def lr_at(step):
    s = step
    for c in CYCLES:
        if s < c:
            return 1e-4 + 0.5 * (PEAK - 1e-4) * (1 + np.cos(np.pi * s / c))
        s -= c
    return 1e-4


def build():
    model = Acoustic()
    opt = optim.SGD(learning_rate=PEAK, momentum=0.9, nesterov=True)
    return model, opt


def run_cycle(model, opt, start, length, tag):
    grad_fn = nn.value_and_grad(model, loss_fn)
    first = last = None
    for k in range(length):
        step = start + k
        opt.learning_rate = lr_at(step)
        b = [mx.array(a) for a in sample(BATCH)]
        (loss, parts), g = grad_fn(model, *b)
        g, _ = optim.clip_grad_norm(g, 5.0)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        if k < 3 and tag != "A":
            print(f"  step {step:4d} lr={lr_at(step):.4f} loss={float(loss):.4f}  (restart)")
        if k == 0:
            first = float(loss)
        last = parts
    l_mel, l_dur, l_pitch = (float(v) for v in last)
    print(f"cycle {tag}: steps {start}-{start + length - 1} loss {first:.4f} -> mel_L1={l_mel:.4f} "
          f"dur={l_dur:.4f} pitch={l_pitch:.4f}")


def evaluate(model, val):
    toks, stress, durs, pitch, idx, mask, mel = val
    m, log_d, p = model(mx.array(toks), mx.array(stress), mx.array(idx), mx.array(pitch))
    mm = mask[..., None]
    l1 = float((np.abs(np.array(m) - mel) * mm).sum() / (mask.sum() * N_MEL))
    base_l1 = float((np.abs(mel.mean((0, 1)) - mel) * mm).sum() / (mask.sum() * N_MEL))
    d_mae = float(np.abs(np.exp(np.array(log_d)) - durs).mean())
    d_base = float(np.abs(durs.mean() - durs).mean())
    p_mae = float(np.abs(np.array(p) - pitch).mean())
    p_base = float(np.abs(pitch.mean() - pitch).mean())
    print(f"val mel_L1={l1:.4f} (global-mean {base_l1:.4f})  dur_MAE={d_mae:.3f} fr (mean {d_base:.3f})  "
          f"pitch_MAE={p_mae:.3f} (mean {p_base:.3f})")


val = sample(128)
t0 = time.time()
model, opt = build()
mx.eval(model.parameters())
evaluate(model, val)
run_cycle(model, opt, 0, CYCLES[0], "A")
run_cycle(model, opt, CYCLES[0], CYCLES[1], "B")
evaluate(model, val)

ckpt = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"checkpoint written after step {sum(CYCLES[:2]) - 1}; rebuilding from disk")
del model, opt

model, opt = build()
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
evaluate(model, val)
run_cycle(model, opt, sum(CYCLES[:2]), CYCLES[2], "C")
evaluate(model, val)
print(f"finished {sum(CYCLES)} steps in {time.time() - t0:.1f}s")
