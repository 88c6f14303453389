"""GRPO on a contextual 'pick the right digit' bandit with a frozen reference policy.

Each prompt is a one-hot context (which of 6 'questions'); the policy samples a group of
answers per prompt, rewards are 1 for the correct answer, advantages are group-normalised,
and the loss is the clipped-free GRPO surrogate + beta * KL(pi || pi_ref).
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.nn import value_and_grad

N_CTX, N_ACT, GROUP, PROMPTS = 32, 40, 8, 16
BETA = 0.02
STEPS = 900

rng = np.random.default_rng(3)
ANSWER = rng.integers(0, N_ACT, size=N_CTX)


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(N_CTX, 256), nn.Tanh(), nn.Linear(256, 256), nn.Tanh(), nn.Linear(256, N_ACT))

    def __call__(self, x):
        return self.body(x)


class GRPOAlgorithm:
    def __init__(self, actor, ref, beta):
        self.actor, self.ref, self.beta = actor, ref, beta

    def calculate_loss_and_grads(self, batch):
        ctx, actions, adv = batch["ctx"], batch["actions"], batch["advantages"]
        ref_logp_all = nn.log_softmax(self.ref(ctx), axis=-1)

        def loss_fn(model):
            logp_all = nn.log_softmax(model(ctx), axis=-1)
            logp = mx.take_along_axis(logp_all, actions[:, None], axis=-1).squeeze(-1)
            pg = -mx.mean(adv * logp)
            kl = mx.sum(mx.exp(logp_all) * (logp_all - ref_logp_all), axis=-1)
            kl_mean = mx.mean(kl)
            loss = pg + self.beta * kl_mean
            return loss, kl_mean

        (loss, kl_mean), grads = value_and_grad(
            self.actor, loss_fn
        )(self.actor)
        return loss, grads, {"kl": float(kl_mean.item())}


def rollout(actor):
    c = rng.integers(0, N_CTX, size=PROMPTS)
    ctx = np.repeat(np.eye(N_CTX, dtype=np.float32)[c], GROUP, axis=0)
    logits = actor(mx.array(ctx))
    acts = mx.random.categorical(logits)
    acts_np = np.array(acts)
    rew = (acts_np == np.repeat(ANSWER[c], GROUP)).astype(np.float32)
    r = rew.reshape(PROMPTS, GROUP)
    adv = (r - r.mean(1, keepdims=True)) / (r.std(1, keepdims=True) + 1e-4)
    return {"ctx": mx.array(ctx), "actions": acts, "advantages": mx.array(adv.reshape(-1))}, rew.mean()


def greedy_accuracy(actor):
    pred = np.array(mx.argmax(actor(mx.eye(N_CTX)), axis=-1))
    return float((pred == ANSWER).mean())


def main():
    mx.random.seed(0)
    actor = Policy()
    ref = Policy()
    ref.update(actor.parameters())
    ref.freeze()
    mx.eval(actor.parameters(), ref.parameters())
    algo = GRPOAlgorithm(actor, ref, BETA)
    opt = optim.Adam(learning_rate=3e-4)
    t0 = time.time()
    hist = []
    for step in range(1, STEPS + 1):
        batch, mean_r = rollout(actor)
        loss, grads, metrics = algo.calculate_loss_and_grads(batch)
        opt.update(actor, grads)
        mx.eval(actor.parameters(), opt.state)
        hist.append(mean_r)
        if step % 90 == 0 or step == 1:
            print(f"[grpo] step={step:4d} loss={loss.item():+.4f} reward(avg90)={np.mean(hist[-90:]):.3f} "
                  f"kl={metrics['kl']:.4f} greedy_acc={greedy_accuracy(actor):.2f} t={time.time()-t0:.1f}s")
    print(f"[grpo] done: greedy accuracy {greedy_accuracy(actor):.2f} (chance {1/N_ACT:.2f})")


if __name__ == "__main__":
    main()
