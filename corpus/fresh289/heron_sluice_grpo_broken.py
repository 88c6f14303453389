"""Sluice-keeper policy: pick one of six gate openings from five river readings.

GRPO fine-tune of a small policy head.  Each step draws a batch of river
situations, samples a group of gate openings per situation, scores them with a
noisy keeper rating and pushes the policy toward the better-than-group-average
choices, with a k3 KL penalty to the frozen starting policy.
"""

import math
import time
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

N_FEAT = 5
N_GATES = 6


@dataclass
class GRPOArgs:
    learning_rate: float = 3e-3
    max_steps: int = 160
    grad_accum: int = 2
    contexts_per_micro: int = 16
    num_generations: int = 8
    beta: float = 0.04
    clip_eps: float = 0.2
    logging_steps: int = 0      # per-step metric logging off; progress lines below
    progress_every: int = 20
    seed: int = 7


class GatePolicy(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, N_GATES)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.out(h)


def river_batch(key, n):
    k1, k2 = mx.random.split(key)
    x = mx.random.normal((n, N_FEAT), key=k1)
    # ideal opening index from a made-up hydraulic law
    flow = 0.9 * x[:, 0] + 0.5 * x[:, 1] - 0.4 * x[:, 2] + 0.3 * x[:, 3] * x[:, 4]
    ideal = mx.clip(mx.round(2.5 + 1.4 * flow), 0, N_GATES - 1)
    return x, ideal


def keeper_rating(gate, ideal, key):
    d = (gate.astype(mx.float32) - ideal) / 2.0
    return 1.0 - d * d + 0.3 * mx.random.normal(gate.shape, key=key)


def seq_logp(model, x, gates):
    logits = model(x)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    return mx.take_along_axis(logp, gates[:, None], axis=-1)[:, 0]


def grpo_loss(model, x_rep, gates, adv, old_logp, ref_logp, beta, clip_eps):
    logp = seq_logp(model, x_rep, gates)
    ratio = mx.exp(logp - old_logp)
    clipped = mx.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    surr = mx.minimum(ratio * adv, clipped * adv)
    log_r = ref_logp - logp
    kl = mx.exp(log_r) - log_r - 1.0
    return mx.mean(-surr + beta * kl)


def main():
    args = GRPOArgs()
    mx.random.seed(args.seed)
    policy = GatePolicy()
    reference = GatePolicy()
    reference.update(tree_map(lambda p: p * 1, policy.parameters()))
    reference.freeze()
    mx.eval(policy.parameters(), reference.parameters())

    opt = optim.Adam(learning_rate=args.learning_rate)
    loss_and_grad = nn.value_and_grad(policy, grpo_loss)

    def grpo_mean_kl(x_rep, gates):
        logp = seq_logp(policy, x_rep, gates)
        ref = seq_logp(reference, x_rep, gates)
        lr_ = ref - logp
        return mx.mean(mx.exp(lr_) - lr_ - 1.0)

    key = mx.random.key(args.seed + 1)
    eval_key, key = mx.random.split(key)
    ex, eideal = river_batch(eval_key, 2000)

    def greedy_eval():
        g = mx.argmax(policy(ex), axis=-1)
        exact = mx.mean((g.astype(mx.float32) == eideal).astype(mx.float32))
        d = (g.astype(mx.float32) - eideal) / 2.0
        return (1.0 - d * d).mean().item(), exact.item()

    r0, e0 = greedy_eval()
    n_par = sum(v.size for _, v in tree_flatten(policy.trainable_parameters()))
    print(f"policy params={n_par}  gates={N_GATES}  group={args.num_generations}"
          f"  micro={args.contexts_per_micro}x{args.grad_accum}")
    print(f"start: greedy rating={r0:.3f}  exact-gate={e0:.3f}  (chance exact ~{1/N_GATES:.3f})")

    total_steps = args.max_steps
    global_step = 0
    accum = None
    t0 = time.time()
    reward_hist = []
    it = 0
    while global_step < total_steps:
        key, kb, ks, kr = mx.random.split(key, 4)
        x, ideal = river_batch(kb, args.contexts_per_micro)
        G = args.num_generations
        x_rep = mx.repeat(x, G, axis=0)
        ideal_rep = mx.repeat(ideal, G, axis=0)
        gates = mx.random.categorical(policy(x_rep), key=ks)
        reward = keeper_rating(gates, ideal_rep, kr)
        rg = reward.reshape(-1, G)
        adv = (rg - rg.mean(axis=1, keepdims=True)) / (
            mx.sqrt(rg.var(axis=1, keepdims=True, ddof=1)) + 1e-4)
        adv = adv.reshape(-1)
        old_logp = mx.stop_gradient(seq_logp(policy, x_rep, gates))
        ref_logp = mx.stop_gradient(seq_logp(reference, x_rep, gates))
        batch_data = (x_rep, gates)
        reward_hist.append(reward.mean().item())

        it += 1
        do_update = it % args.grad_accum == 0
        pending_kl = None
        if do_update:
            prospective_step = it // args.grad_accum
            if (prospective_step % args.logging_steps == 0
                    or prospective_step == total_steps):
                pending_kl = grpo_mean_kl(batch_data[0], batch_data[1]).item()

        loss, grads = loss_and_grad(policy, x_rep, gates, adv, old_logp,
                                    ref_logp, args.beta, args.clip_eps)
        grads = tree_map(lambda g: g / args.grad_accum, grads)
        accum = grads if accum is None else tree_map(mx.add, accum, grads)
        mx.eval(loss, accum)

        if do_update:
            opt.update(policy, accum)
            mx.eval(policy.parameters(), opt.state)
            accum = None
            global_step += 1
            if global_step % args.progress_every == 0 or global_step == total_steps:
                rr = sum(reward_hist[-2 * args.progress_every:]) / len(
                    reward_hist[-2 * args.progress_every:])
                gr, ge = greedy_eval()
                el = time.time() - t0
                print(f"[{global_step:4d}/{total_steps}] loss={loss.item():+.4f}"
                      f"  sampled_rating={rr:.3f}  greedy_rating={gr:.3f}"
                      f"  exact={ge:.3f}  {global_step / el:.1f} it/s")
            if pending_kl is not None:
                print(f"  kl_to_start={pending_kl:.4f} at step {global_step}")

    rF, eF = greedy_eval()
    print(f"done: greedy rating {r0:.3f} -> {rF:.3f}, exact-gate {e0:.3f} -> {eF:.3f}"
          f"  ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
