"""Pinball-table overhead camera: next-frame prediction of a rolling ball.

Synthetic 12x12 grey clips of 10 frames: a soft Gaussian ball moves at constant
velocity and bounces off the table walls.  Pixel values are in [0, 1] and are
used as soft targets for a per-pixel binary cross-entropy, so the loss can never
reach zero: its floor is the mean Bernoulli entropy of the target frames, which
is printed next to the loss.

Model: frame encoder (Linear 144-64, GELU) -> nn.GRU(64, 96) -> decoder
(Linear 96-144) giving next-frame logits.

Two stages on purpose:
  stage A (teacher forcing): the GRU reads true frames 0..8 and predicts 1..9.
  stage B (closed loop): it reads 3 true frames, then feeds its own predictions
           back for 6 more frames; the loss is over the 6 free-running frames.
           This task is harder, so the reported loss jumps UP at the stage
           switch, then comes down again.
The learning rate restarts at the stage switch (Adam, step decay in each stage).
Progress lines are printed every 150 steps only; the validation rollout error is
printed beside the copy-last-frame and blank-frame baselines.
"""

import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

S = 12
T = 10
rng = np.random.default_rng(11)
mx.random.seed(11)


def make_clips(n):
    yy, xx = np.meshgrid(np.arange(S), np.arange(S), indexing="ij")
    clips = np.zeros((n, T, S * S), np.float32)
    for i in range(n):
        p = rng.uniform(1.5, S - 2.5, size=2)
        ang = rng.uniform(0, 2 * np.pi)
        speed = rng.uniform(0.6, 1.3)
        v = speed * np.array([np.cos(ang), np.sin(ang)])
        for t in range(T):
            img = np.exp(-((yy - p[0]) ** 2 + (xx - p[1]) ** 2) / (2 * 1.1 ** 2))
            clips[i, t] = img.reshape(-1)
            p = p + v
            for k in range(2):
                if p[k] < 1.0:
                    p[k] = 2.0 - p[k]
                    v[k] = -v[k]
                elif p[k] > S - 2.0:
                    p[k] = 2 * (S - 2.0) - p[k]
                    v[k] = -v[k]
    return clips


def entropy_floor(x):
    x = np.clip(x, 1e-7, 1 - 1e-7)
    return float(np.mean(-(x * np.log(x) + (1 - x) * np.log(1 - x))))


class FramePredictor(nn.Module):
    def __init__(self, d=64, h=96):
        super().__init__()
        self.enc = nn.Linear(S * S, d)
        self.gru = nn.GRU(d, h)
        self.dec = nn.Linear(h, S * S)

    def teacher(self, frames):
        hs = self.gru(nn.gelu(self.enc(frames)))
        return self.dec(hs)

    def rollout(self, frames, context, horizon):
        hs = self.gru(nn.gelu(self.enc(frames[:, :context])))
        h = hs[:, -1]
        logit = self.dec(h)
        outs = [logit]
        for _ in range(horizon - 1):
            x = mx.sigmoid(logit)[:, None]
            h = self.gru(nn.gelu(self.enc(x)), h)[:, -1]
            logit = self.dec(h)
            outs.append(logit)
        return mx.stack(outs, axis=1)


def loss_teacher(model, clips):
    logits = model.teacher(clips[:, :-1])
    return nn.losses.binary_cross_entropy(logits, clips[:, 1:], reduction="mean")


CONTEXT, HORIZON = 3, 6


def loss_rollout(model, clips):
    logits = model.rollout(clips, CONTEXT, HORIZON)
    return nn.losses.binary_cross_entropy(logits, clips[:, CONTEXT:CONTEXT + HORIZON], reduction="mean")


def rollout_mse(model, clips):
    pred = mx.sigmoid(model.rollout(clips, CONTEXT, HORIZON))
    return mx.mean((pred - clips[:, CONTEXT:CONTEXT + HORIZON]) ** 2).item()


def main():
    t0 = time.time()
    train = mx.array(make_clips(3000))
    val_np = make_clips(300)
    val = mx.array(val_np)
    tgt = val_np[:, CONTEXT:CONTEXT + HORIZON]
    copy_last = float(np.mean((tgt - val_np[:, CONTEXT - 1:CONTEXT]) ** 2))
    blank = float(np.mean(tgt ** 2))
    floor_tf = entropy_floor(val_np[:, 1:])
    floor_ro = entropy_floor(tgt)
    print(f"clips train {train.shape[0]} val {val.shape[0]}, {T} frames of {S}x{S}")
    print(f"val rollout baselines: copy-last-frame MSE {copy_last:.4f}, blank-frame MSE {blank:.4f}")
    print(f"BCE floors (target entropy): teacher {floor_tf:.4f}, rollout {floor_ro:.4f}")

    model = FramePredictor()
    mx.eval(model.parameters())
    bs = 32
    stages = [("A teacher forcing", loss_teacher, 450, 3e-3), ("B closed loop", loss_rollout, 450, 1.5e-3)]
    step = 0
    for name, lfn, n_steps, lr0 in stages:
        sched = optim.step_decay(lr0, 0.5, 150)
        opt = optim.Adam(learning_rate=sched)
        vg = nn.value_and_grad(model, lfn)
        print(f"== stage {name}: {n_steps} steps, lr restarts at {lr0:.1e}")
        running = []
        for k in range(n_steps):
            idx = mx.array(rng.integers(0, train.shape[0], size=bs))
            loss, grads = vg(model, train[idx])
            grads, _ = optim.clip_grad_norm(grads, 1.0)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            running.append(loss.item())
            step += 1
            if k == 0 or (k + 1) % 150 == 0:
                print(f"step {step:4d}  stage-step {k + 1:3d}  lr {opt.learning_rate.item():.1e}  "
                      f"bce {np.mean(running[-50:]):.4f}")
        vro = rollout_mse(model, val)
        vbce = loss_rollout(model, val).item()
        print(f"   end of stage {name}: val rollout MSE {vro:.4f} (copy-last {copy_last:.4f}, "
              f"blank {blank:.4f}), val rollout BCE {vbce:.4f} (floor {floor_ro:.4f})")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
