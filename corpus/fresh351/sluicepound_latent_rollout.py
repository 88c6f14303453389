"""Canal flight of locks: latent world model of two pound water levels.

12 noisy sensor channels are driven by a hidden 2-d pound-level state and 2 sluice
settings.  Encoder -> 4-d latent, latent dynamics (z, a) -> z', decoder z -> sensors.
Losses: sensor reconstruction + next-latent prediction against an EMA target encoder
(stop-gradient).  The run is checkpointed half-way, reloaded into fresh objects and
continued.  Open-loop imagined rollouts are scored against a persistence baseline.
"""
import os
import tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten, tree_map

rng = np.random.default_rng(3)
mx.random.seed(3)

A_SYS = np.array([[0.92, 0.05], [0.04, 0.90]], dtype=np.float32)
B_SYS = np.array([[0.30, -0.20], [0.00, 0.35]], dtype=np.float32)
MIX = rng.normal(0, 1, (2, 12)).astype(np.float32)


def simulate(n_traj, T):
    s = rng.normal(0, 1, (n_traj, 2)).astype(np.float32)
    S, A = [], []
    for _ in range(T):
        a = rng.uniform(-1, 1, (n_traj, 2)).astype(np.float32)
        S.append(s); A.append(a)
        s = s @ A_SYS.T + a @ B_SYS.T + rng.normal(0, 0.03, s.shape).astype(np.float32)
    S = np.stack(S, 1); A = np.stack(A, 1)
    obs = np.tanh(S @ MIX) + rng.normal(0, 0.05, S.shape[:2] + (12,)).astype(np.float32)
    return obs.astype(np.float32), A


class WorldModel(nn.Module):
    def __init__(self, d_obs=12, d_z=4, d_a=2, h=48):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d_obs, h), nn.GELU(), nn.Linear(h, d_z))
        self.dyn = nn.Sequential(nn.Linear(d_z + d_a, h), nn.GELU(), nn.Linear(h, d_z))
        self.dec = nn.Sequential(nn.Linear(d_z, h), nn.GELU(), nn.Linear(h, d_obs))

    def step(self, z, a):
        return z + self.dyn(mx.concatenate([z, a], axis=-1))


def loss_fn(model, target_enc, o, a, o2):
    z = model.enc(o)
    recon = mx.mean((model.dec(z) - o) ** 2)
    z_next = model.step(z, a)
    z_tgt = mx.stop_gradient(target_enc(o2))
    pred = mx.mean((z_next - z_tgt) ** 2)
    recon2 = mx.mean((model.dec(z_next) - o2) ** 2)
    return recon + recon2 + pred, (recon, pred)


def rollout_error(model, obs, act, k=8):
    z = model.enc(obs[:, 0])
    errs = []
    for t in range(k):
        z = model.step(z, act[:, t])
        errs.append(mx.mean((model.dec(z) - obs[:, t + 1]) ** 2))
    persist = mx.mean((obs[:, 1:k + 1] - obs[:, :1]) ** 2)
    return float(mx.mean(mx.stack(errs))), float(persist)


def make_target(model):
    tgt = nn.Sequential(nn.Linear(12, 48), nn.GELU(), nn.Linear(48, 4))
    tgt.update(tree_map(lambda x: x, model.enc.parameters()))
    tgt.freeze()
    return tgt


def train(model, target_enc, opt, obs, act, start, stop, tau=0.02):
    vg = nn.value_and_grad(model, loss_fn)
    n, T = obs.shape[:2]
    for step in range(start, stop):
        i = rng.integers(0, n, 128); t = rng.integers(0, T - 1, 128)
        o, a, o2 = mx.array(obs[i, t]), mx.array(act[i, t]), mx.array(obs[i, t + 1])
        (loss, (rec, pred)), grads = vg(model, target_enc, o, a, o2)
        grads, gnorm = optim.clip_grad_norm(grads, 5.0)
        opt.update(model, grads)
        new_t = tree_map(lambda p, q: (1 - tau) * p + tau * q,
                         target_enc.parameters(), model.enc.parameters())
        target_enc.update(new_t)
        mx.eval(model.parameters(), target_enc.parameters(), opt.state)
        if step % 200 == 0 or step == stop - 1:
            print(f"[{step:4d}] total {loss.item():.4f}  recon {rec.item():.4f}  "
                  f"latent_pred {pred.item():.5f}  grad_norm {gnorm.item():.3f}  lr {float(opt.learning_rate):.2e}")


def main():
    obs, act = simulate(256, 24)
    vobs, vact = simulate(64, 24)
    vobs, vact = mx.array(vobs), mx.array(vact)
    noise_floor = 0.05 ** 2
    total = 1400
    sched = optim.cosine_decay(3e-3, total, end=1e-4)

    model = WorldModel()
    mx.eval(model.parameters())
    target_enc = make_target(model)
    opt = optim.Adam(learning_rate=sched)
    e, p = rollout_error(model, vobs, vact)
    print(f"init    | 8-step imagined sensor mse {e:.4f} | persistence {p:.4f} | sensor noise floor {noise_floor:.4f}")
    train(model, target_enc, opt, obs, act, 0, total // 2)
    e, p = rollout_error(model, vobs, vact)
    print(f"half    | 8-step imagined sensor mse {e:.4f} | persistence {p:.4f}")

    ckdir = tempfile.mkdtemp()
    model.save_weights(os.path.join(ckdir, "model.safetensors"))
    target_enc.save_weights(os.path.join(ckdir, "target.safetensors"))
    mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
    print(f"checkpoint written ({len(os.listdir(ckdir))} files), reloading into fresh objects")

    model = WorldModel()
    model.load_weights(os.path.join(ckdir, "model.safetensors"))
    target_enc = make_target(model)
    target_enc.load_weights(os.path.join(ckdir, "target.safetensors"))
    target_enc.freeze()
    opt = optim.Adam(learning_rate=sched)
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
    print(f"resumed at optimizer step {int(opt.state['step'])}")
    train(model, target_enc, opt, obs, act, total // 2, total)

    e, p = rollout_error(model, vobs, vact)
    z = model.enc(vobs.reshape(-1, 12))
    print(f"final   | 8-step imagined sensor mse {e:.4f} | persistence {p:.4f} | latent std per dim "
          + " ".join(f"{v:.3f}" for v in np.array(mx.std(z, axis=0))))


if __name__ == "__main__":
    main()
