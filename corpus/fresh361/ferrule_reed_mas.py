# Glow-TTS style hard monotonic alignment search (MAS) between phoneme tokens and mel frames,
# with a Gaussian prior NLL (falls below zero as the learned scales shrink) and a duration
# predictor that joins in a second stage. Synthetic phonemes, CPU-sized.
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)

N_PH, D_MEL, N_TOK, BATCH = 14, 8, 6, 16
PH_MEL = rng.normal(0, 1.0, (N_PH, D_MEL)).astype(np.float32)
PH_DUR = rng.integers(2, 7, N_PH)          # mean frames per phoneme
NOISE = 0.15


def make_utt():
    toks = rng.integers(0, N_PH, N_TOK)
    durs = np.maximum(1, PH_DUR[toks] + rng.integers(-1, 2, N_TOK))
    frames = np.concatenate([np.repeat(PH_MEL[t][None], d, 0) for t, d in zip(toks, durs)])
    frames = frames + rng.normal(0, NOISE, frames.shape).astype(np.float32)
    return toks, durs, frames


def make_batch(n):
    utts = [make_utt() for _ in range(n)]
    t_max = max(u[2].shape[0] for u in utts)
    toks = np.stack([u[0] for u in utts])
    durs = np.stack([u[1] for u in utts])
    mel = np.zeros((n, t_max, D_MEL), np.float32)
    mask = np.zeros((n, t_max), np.float32)
    for i, u in enumerate(utts):
        mel[i, : u[2].shape[0]] = u[2]
        mask[i, : u[2].shape[0]] = 1
    return toks, durs, mel, mask


class TextEncoder(nn.Module):
    def __init__(self, h=48):
        super().__init__()
        self.emb = nn.Embedding(N_PH, h)
        self.conv1 = nn.Conv1d(h, h, 3, padding=1)
        self.conv2 = nn.Conv1d(h, h, 3, padding=1)
        self.norm = nn.LayerNorm(h)
        self.mu = nn.Linear(h, D_MEL)
        self.log_s = mx.zeros((D_MEL,))
        self.dur = nn.Sequential(nn.Linear(h, 32), nn.ReLU(), nn.Linear(32, 1))

    def __call__(self, toks):
        x = self.emb(toks)
        x = x + nn.gelu(self.conv1(x))
        x = self.norm(x + nn.gelu(self.conv2(x)))
        return x, self.mu(x)


def gauss_logp(mel, mu, log_s):
    # mel [B,T,D], mu [B,N,D] -> [B,N,T]
    diff = mel[:, None, :, :] - mu[:, :, None, :]
    lp = -0.5 * (diff / mx.exp(log_s)) ** 2 - log_s - 0.5 * math.log(2 * math.pi)
    return lp.sum(-1)


def mas(logp, n_frames):
    # monotonic, each token >= 1 frame, path covers all frames (Viterbi)
    n_tok = logp.shape[0]
    T = n_frames
    Q = np.full((n_tok, T), -np.inf)
    Q[0, 0] = logp[0, 0]
    for t in range(1, T):
        for j in range(min(n_tok, t + 1)):
            stay = Q[j, t - 1]
            move = Q[j - 1, t - 1] if j > 0 else -np.inf
            Q[j, t] = max(stay, move) + logp[j, t]
    path = np.zeros(T, np.int64)
    j = n_tok - 1
    for t in range(T - 1, -1, -1):
        path[t] = j
        if t > 0 and j > 0 and (j == t or Q[j - 1, t - 1] > Q[j, t - 1]):
            j -= 1
    return path


def align_batch(logp, mask):
    lp = np.array(logp)
    lens = mask.sum(1).astype(int)
    paths = np.zeros(mask.shape, np.int64)
    for i in range(lp.shape[0]):
        paths[i, : lens[i]] = mas(lp[i, :, : lens[i]], lens[i])
    return paths


def durations_from_path(paths, mask):
    d = np.zeros((paths.shape[0], N_TOK), np.float32)
    for i in range(paths.shape[0]):
        L = int(mask[i].sum())
        d[i] = np.bincount(paths[i, :L], minlength=N_TOK)
    return d


model = TextEncoder()
mx.eval(model.parameters())
STEPS, WARM, DUR_START = 420, 60, 180
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, WARM),
                              optim.cosine_decay(3e-3, STEPS - WARM, 1e-4)], [WARM])
opt = optim.Adam(learning_rate=sched)


def loss_fn(model, toks, mel, mask, paths, log_dur, use_dur):
    h, mu = model(toks)
    mu_f = mx.take_along_axis(mu, paths[:, :, None], axis=1)      # [B,T,D]
    diff = (mel - mu_f) / mx.exp(model.log_s)
    nll = (0.5 * diff ** 2 + model.log_s + 0.5 * math.log(2 * math.pi)).sum(-1)
    nll = (nll * mask).sum() / (mask.sum() * D_MEL)
    pred = model.dur(mx.stop_gradient(h)).squeeze(-1)
    dl = ((pred - log_dur) ** 2).mean()
    return nll + use_dur * dl, (nll, dl)


grad_fn = nn.value_and_grad(model, loss_fn)

val = make_batch(64)
base_mae = float(np.abs(val[1] - val[1].mean()).mean())
print(f"phonemes={N_PH} tokens/utt={N_TOK} val_utts=64 duration baseline MAE={base_mae:.3f} frames")
t0 = time.time()
for step in range(1, STEPS + 1):
    toks, durs, mel, mask = make_batch(BATCH)
    toks_m, mel_m, mask_m = mx.array(toks), mx.array(mel), mx.array(mask)
    _, mu = model(toks_m)
    logp = gauss_logp(mel_m, mx.stop_gradient(mu), mx.stop_gradient(model.log_s))
    paths = align_batch(logp, mask)
    log_dur = mx.array(np.log(durations_from_path(paths, mask)))
    use_dur = 1.0 if step > DUR_START else 0.0
    (loss, (nll, dl)), grads = grad_fn(model, toks_m, mel_m, mask_m, mx.array(paths), log_dur, use_dur)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    if step == DUR_START + 1:
        print(f"--- stage 2: duration predictor joins at step {step} ---")
    if step % 30 == 0 or step == 1:
        print(f"step {step:4d} lr={float(sched(step - 1)):.5f} nll/dim={float(nll):+.4f} "
              f"dur_mse={float(dl):.4f}{'' if use_dur else ' (idle)'} sigma={float(mx.exp(model.log_s).mean()):.3f}")

vt, vd, vm, vmask = val
_, mu = model(mx.array(vt))
logp = gauss_logp(mx.array(vm), mu, model.log_s)
paths = align_batch(logp, vmask)
got = durations_from_path(paths, vmask)
exact = float((got == vd).mean())
h, _ = model(mx.array(vt))
pred = np.exp(np.array(model.dur(h).squeeze(-1)))
mae = float(np.abs(pred - vd).mean())
print(f"val: MAS duration exact-match={exact:.3f}  predictor MAE={mae:.3f} frames (baseline {base_mae:.3f})")
print(f"done in {time.time() - t0:.1f}s")
