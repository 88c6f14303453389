# GRPO on a tiny answer policy: quarry ledger clerks map (job code, block number)
# to a bay number. Three job families are kept in three ledger files that are
# read one after another.
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 3407
N_BAYS = 10
FAMILIES = ["haul", "split", "dress"]


def bay_for(fam, block):
    if fam == 0:
        return block
    if fam == 1:
        return 9 - block
    return (block + 3) % 10


def load_ledgers(rows_per_family=1000, seed=0):
    rng = np.random.RandomState(seed)
    prompts = []
    for fam in range(len(FAMILIES)):
        for _ in range(rows_per_family):
            prompts.append((fam, int(rng.randint(0, 10))))
    return prompts


class Clerk(nn.Module):
    def __init__(self):
        super().__init__()
        self.codes = nn.Embedding(len(FAMILIES) * 10, N_BAYS)

    def __call__(self, fam, block):
        return self.codes(fam * 10 + block)


def log_probs(model, fam, block, actions):
    logits = model(fam, block)
    lp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    return mx.take_along_axis(lp, actions[:, None], axis=-1).squeeze(-1)


def grpo_loss(model, fam, block, actions, advantages, old_lp, eps=0.2):
    lp = log_probs(model, fam, block, actions)
    coef_1 = mx.exp(lp - old_lp)
    coef_2 = mx.clip(coef_1, 1 - eps, 1 + eps)
    per_row = -mx.minimum(coef_1 * advantages, coef_2 * advantages)
    return per_row.mean()


def rollout_generator(model, prompts, prompts_per_step, num_generations, seed):
    order = [int(i) for i in np.random.RandomState(seed).permutation(len(prompts))]
    idx = 0
    while True:
        fams, blocks = [], []
        for _ in range(prompts_per_step):
            j = order[idx % len(prompts)]
            idx += 1
            f, b = prompts[j]
            fams += [f] * num_generations
            blocks += [b] * num_generations
        fam = mx.array(fams)
        block = mx.array(blocks)
        logits = model(fam, block)
        actions = mx.random.categorical(logits).astype(mx.int32)
        old_lp = mx.stop_gradient(log_probs(model, fam, block, actions))
        target = mx.array([bay_for(f, b) for f, b in zip(fams, blocks)])
        rewards = (actions == target).astype(mx.float32)
        grouped = rewards.reshape(prompts_per_step, num_generations)
        mean = grouped.mean(axis=1, keepdims=True)
        std = mx.sqrt(((grouped - mean) ** 2).sum(axis=1, keepdims=True) / (num_generations - 1))
        adv = ((grouped - mean) / (std + 1e-4)).reshape(-1)
        yield fam, block, actions, adv, old_lp, rewards


def evaluate(model):
    accs = []
    for f in range(len(FAMILIES)):
        fam = mx.array([f] * 10)
        block = mx.arange(10)
        pred = mx.argmax(model(fam, block), axis=-1)
        tgt = mx.array([bay_for(f, b) for b in range(10)])
        accs.append((pred == tgt).astype(mx.float32).mean().item())
    return accs


def main():
    mx.random.seed(SEED)
    np.random.seed(SEED)
    prompts = load_ledgers()
    model = Clerk()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=5e-2)
    max_steps = 120
    prompts_per_step = 8
    num_generations = 16
    print(f"ledger rows: {len(prompts)}  max_steps: {max_steps}  prompts/step: {prompts_per_step}  G: {num_generations}")
    acc0 = evaluate(model)
    print("eval step 0 | " + " ".join(f"{n}={a:.2f}" for n, a in zip(FAMILIES, acc0)) + f" | mean={np.mean(acc0):.3f}")
    loss_and_grad = nn.value_and_grad(model, grpo_loss)
    gen = rollout_generator(model, prompts, prompts_per_step, num_generations, SEED)
    window = []
    for step in range(1, max_steps + 1):
        fam, block, actions, adv, old_lp, rewards = next(gen)
        loss, grads = loss_and_grad(model, fam, block, actions, adv, old_lp)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(rewards.mean().item())
        if step % 20 == 0:
            print(f"step {step:3d} | loss {loss.item():+.4f} | reward {np.mean(window):.3f}")
            window = []
        if step % 40 == 0:
            accs = evaluate(model)
            print(f"eval step {step} | " + " ".join(f"{n}={a:.2f}" for n, a in zip(FAMILIES, accs)) + f" | mean={np.mean(accs):.3f}")
    accs = evaluate(model)
    print(f"final bay accuracy (greedy, all 30 codes): {np.mean(accs):.3f}")


if __name__ == "__main__":
    main()
