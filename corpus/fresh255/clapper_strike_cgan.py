"""Paired conditional GAN: restore studio-mic bell strikes from contact-mic takes.

Each training pair is (contact-mic take, studio take) of the same clapper strike.
The generator sees the contact-mic take plus noise; the conditional discriminator
sees (contact take, studio-or-generated take). Objective per generator step:
l1_weight * L1 + adv_weight * adversarial, adv_weight ramped up from 0.

Run in two sessions inside one script: session 1 writes its own checkpoint
(weights of both players, both optimizer states, step, numpy RNG), everything
is dropped, session 2 rebuilds from that checkpoint and carries on.
"""

import json
import os
import shutil
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

T = 24
Z = 4
L1_WEIGHT = 20.0
RAMP_STEPS = 150
STEPS_PER_SESSION = 300
BATCH = 128


def strike_pairs(n, rng):
    t = np.arange(T, dtype=np.float64) / T
    size = rng.uniform(0.6, 1.4, size=(n, 1))
    damp = rng.uniform(2.0, 5.0, size=(n, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    hum = np.cos(2 * np.pi * 2.0 / size * t)
    prime = 0.6 * np.cos(2 * np.pi * 4.1 / size * t + phase)
    tierce = 0.3 * np.cos(2 * np.pi * 4.9 / size * t + 0.5 * phase)
    studio = np.exp(-damp * t) * (hum + prime + tierce)
    # contact mic: band-limited (3-tap smoothing), soft clipping, lower gain, hiss
    pad = np.pad(studio, ((0, 0), (1, 1)), mode="edge")
    smooth = 0.25 * pad[:, :-2] + 0.5 * pad[:, 1:-1] + 0.25 * pad[:, 2:]
    contact = 0.7 * np.tanh(1.8 * smooth) + 0.05 * rng.normal(size=smooth.shape)
    return contact.astype(np.float32), studio.astype(np.float32)


class Restorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(T + Z, 96), nn.GELU(), nn.Linear(96, 96), nn.GELU(), nn.Linear(96, T)
        )

    def __call__(self, contact, z):
        return contact + self.net(mx.concatenate([contact, z], axis=-1))


class PairCritic(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(2 * T, 96), nn.LeakyReLU(0.2), nn.Linear(96, 96), nn.LeakyReLU(0.2),
            nn.Linear(96, 1),
        )

    def __call__(self, contact, take):
        return self.net(mx.concatenate([contact, take], axis=-1)).squeeze(-1)


def bce(logits, target):
    return nn.losses.binary_cross_entropy(logits, target, with_logits=True, reduction="mean")


def d_loss_fn(critic, contact, studio, fake):
    real_logits = critic(contact, studio)
    fake_logits = critic(contact, mx.stop_gradient(fake))
    return bce(real_logits, mx.ones_like(real_logits)) + bce(fake_logits, mx.zeros_like(fake_logits))


def g_loss_fn(gen, critic, contact, studio, z, adv_weight):
    fake = gen(contact, z)
    logits = critic(contact, fake)
    adv = bce(logits, mx.ones_like(logits))
    l1 = mx.mean(mx.abs(fake - studio))
    return L1_WEIGHT * l1 + adv_weight * adv, (adv, l1)


class Session:
    def __init__(self, data, rng):
        self.data = data
        self.rng = rng
        self.gen = Restorer()
        self.critic = PairCritic()
        self.opt_g = optim.Adam(learning_rate=1e-3, betas=[0.5, 0.999])
        self.opt_d = optim.Adam(learning_rate=1e-3, betas=[0.5, 0.999])
        self.step = 0
        self.g_vg = nn.value_and_grad(self.gen, g_loss_fn)
        self.d_vg = nn.value_and_grad(self.critic, d_loss_fn)
        mx.eval(self.gen.parameters(), self.critic.parameters())

    def adv_weight(self):
        return min(1.0, self.step / RAMP_STEPS)

    def train_step(self):
        c_tr, s_tr = self.data["train"]
        idx = mx.array(self.rng.integers(0, c_tr.shape[0], size=BATCH))
        contact, studio = c_tr[idx], s_tr[idx]
        z = mx.array(self.rng.normal(size=(BATCH, Z)).astype(np.float32))
        fake = self.gen(contact, z)
        d_loss, d_grads = self.d_vg(self.critic, contact, studio, fake)
        self.opt_d.update(self.critic, d_grads)
        mx.eval(self.critic.parameters(), self.opt_d.state, d_loss)
        w = self.adv_weight()
        (g_total, (g_adv, g_l1)), g_grads = self.g_vg(
            self.gen, self.critic, contact, studio, z, mx.array(w)
        )
        self.opt_g.update(self.gen, g_grads)
        mx.eval(self.gen.parameters(), self.opt_g.state, g_total, g_adv, g_l1)
        self.step += 1
        return w, d_loss.item(), g_adv.item(), g_l1.item(), g_grads

    def val_l1(self):
        c_va, s_va = self.data["val"]
        z = mx.array(np.random.default_rng(7).normal(size=(c_va.shape[0], Z)).astype(np.float32))
        out = self.gen(c_va, z)
        return mx.mean(mx.abs(out - s_va)).item()

    def save(self, folder):
        self.gen.save_weights(os.path.join(folder, "restorer.safetensors"))
        self.critic.save_weights(os.path.join(folder, "critic.safetensors"))
        mx.save_safetensors(os.path.join(folder, "opt_g.safetensors"), dict(tree_flatten(self.opt_g.state)))
        mx.save_safetensors(os.path.join(folder, "opt_d.safetensors"), dict(tree_flatten(self.opt_d.state)))
        with open(os.path.join(folder, "meta.json"), "w") as f:
            json.dump({"step": self.step, "rng": self.rng.bit_generator.state}, f)

    def load(self, folder):
        self.gen.load_weights(os.path.join(folder, "restorer.safetensors"))
        self.critic.load_weights(os.path.join(folder, "critic.safetensors"))
        self.opt_g.state = tree_unflatten(list(mx.load(os.path.join(folder, "opt_g.safetensors")).items()))
        self.opt_d.state = tree_unflatten(list(mx.load(os.path.join(folder, "opt_d.safetensors")).items()))
        with open(os.path.join(folder, "meta.json")) as f:
            meta = json.load(f)
        self.step = meta["step"]
        self.rng.bit_generator.state = meta["rng"]
        mx.eval(self.gen.parameters(), self.critic.parameters(), self.opt_g.state, self.opt_d.state)


def block(title, fields, indent=2):
    print(f"{title}:")
    for k, v in fields.items():
        if isinstance(v, dict):
            print(" " * indent + f"{k}:")
            for k2, v2 in v.items():
                print(" " * (2 * indent) + f"{k2}: {v2}")
        else:
            print(" " * indent + f"{k}: {v}")


def run_session(sess, n_steps, session_id, baselines, window):
    t0 = time.perf_counter()
    for _ in range(n_steps):
        w, d, ga, gl, grads = sess.train_step()
        window.append((d, ga, gl))
        if sess.step == 1:
            norms = [float(mx.sqrt(mx.sum(g * g)).item()) for _, g in tree_flatten(grads)]
            block("grad_check", {"restorer_leaves": len(norms),
                                 "nonzero": sum(n > 0 for n in norms),
                                 "min_norm": f"{min(norms):.2e}"})
        if sess.step % 100 == 0:
            arr = np.array(window[-100:])
            val = sess.val_l1()
            block(f"step_{sess.step}", {
                "session": session_id,
                "adv_weight": round(w, 3),
                "train": {"d_bce": f"{arr[:, 0].mean():.4f}",
                          "g_adv": f"{arr[:, 1].mean():.4f}",
                          "g_l1": f"{arr[:, 2].mean():.4f}"},
                "val": {"l1": f"{val:.4f}",
                        "l1_contact_mic": f"{baselines['contact']:.4f}",
                        "l1_mean_take": f"{baselines['mean']:.4f}",
                        "gain_vs_contact_pct": f"{100 * (1 - val / baselines['contact']):.1f}"},
                "secs": round(time.perf_counter() - t0, 2),
            })


def main():
    mx.random.seed(0)
    data_rng = np.random.default_rng(11)
    c_tr, s_tr = strike_pairs(6000, data_rng)
    c_va, s_va = strike_pairs(800, data_rng)
    data = {"train": (mx.array(c_tr), mx.array(s_tr)), "val": (mx.array(c_va), mx.array(s_va))}
    baselines = {
        "contact": float(np.abs(c_va - s_va).mean()),
        "mean": float(np.abs(s_tr.mean(0, keepdims=True) - s_va).mean()),
    }
    block("data", {"train_pairs": c_tr.shape[0], "val_pairs": c_va.shape[0], "samples_per_take": T})

    ckpt = tempfile.mkdtemp()
    window = []
    try:
        sess = Session(data, np.random.default_rng(5))
        run_session(sess, STEPS_PER_SESSION, 1, baselines, window)
        sess.save(ckpt)
        ref = {k: np.array(v) for k, v in tree_flatten(sess.gen.parameters())}
        ref_val = sess.val_l1()
        block("checkpoint_written", {"step": sess.step, "files": len(os.listdir(ckpt))})
        del sess

        sess = Session(data, np.random.default_rng(999))
        sess.load(ckpt)
        diff = max(float(np.abs(np.array(v) - ref[k]).max()) for k, v in tree_flatten(sess.gen.parameters()))
        block("resumed", {"step": sess.step,
                          "opt_g_step": int(sess.opt_g.state["step"].item()),
                          "max_weight_diff": f"{diff:.1e}",
                          "val_l1_match": abs(sess.val_l1() - ref_val) < 1e-6})
        run_session(sess, STEPS_PER_SESSION, 2, baselines, window)
        final = sess.val_l1()
        block("done", {"steps": sess.step, "val_l1": f"{final:.4f}",
                       "contact_mic_l1": f"{baselines['contact']:.4f}"})
    finally:
        shutil.rmtree(ckpt, ignore_errors=True)


if __name__ == "__main__":
    main()
