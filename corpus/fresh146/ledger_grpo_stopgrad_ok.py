# Tiny GRPO on a "successor digit" task: the policy sees a digit d and must
# answer with a 4-token response; each token equal to (d+1) % 8 earns reward.
# Gradients are accumulated one response at a time (as in a memory-lean GRPO trainer).
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten
import copy, time

VOCAB, RESP_LEN, GROUP, PROMPTS_PER_STEP, STEPS = 8, 4, 8, 4, 80
CLIP_EPS, KL_COEFF = 0.2, 0.02

mx.random.seed(3)


class TinyPolicy(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 32)
        self.pos = nn.Embedding(RESP_LEN, 32)
        self.hidden = nn.Linear(32, 64)
        self.head = nn.Linear(64, VOCAB)

    def __call__(self, prompt):
        # prompt: [B] -> logits [B, RESP_LEN, VOCAB]
        h = self.emb(prompt)[:, None, :] + self.pos(mx.arange(RESP_LEN))[None]
        return self.head(nn.gelu(self.hidden(h)))


def seq_log_prob(model, prompt, resp):
    logits = model(mx.array([prompt]))[0]
    lp = nn.log_softmax(logits, axis=-1)
    return mx.sum(mx.take_along_axis(lp, mx.array(resp)[:, None], axis=-1))


class GRPOTrainer:
    def __init__(self):
        self.model = TinyPolicy()
        mx.eval(self.model.parameters())
        self.ref_model = copy.deepcopy(self.model)
        self.ref_model.freeze()
        self.opt = optim.Adam(learning_rate=3e-3)

    def generate(self, prompt):
        logits = self.model(mx.array([prompt] * GROUP))
        toks = mx.random.categorical(logits)  # [GROUP, RESP_LEN]
        mx.eval(toks)
        return [t.tolist() for t in toks]

    def reward(self, prompt, resp):
        target = (prompt + 1) % VOCAB
        return sum(1.0 for t in resp if t == target) / RESP_LEN

    def compute_grads(self, prompt, responses, advantages, old_lps, ref_lps):
        accumulated, total_loss, total_kl = None, 0.0, 0.0
        for i, resp in enumerate(responses):
            adv, old_lp, ref_lp = advantages[i], old_lps[i], ref_lps[i]
            params = dict(self.model.trainable_parameters())

            def compute_loss_for_grad(params):
                self.model.update(params)
                cur = seq_log_prob(self.model, prompt, resp)
                ratio = mx.exp(cur - old_lp)
                clipped = mx.clip(ratio, 1.0 - CLIP_EPS, 1.0 + CLIP_EPS)
                pol = mx.minimum(ratio * adv, clipped * adv)
                log_r = ref_lp - cur
                kl = mx.exp(log_r) - log_r - 1
                return -(pol - KL_COEFF * kl), kl

            def compute_loss_and_grads(params):
                loss, kl = compute_loss_for_grad(params)
                compute_loss_and_grads.kl = kl
                return loss

            loss_val = compute_loss_and_grads(params)
            kl_val = compute_loss_and_grads.kl
            single = mx.grad(lambda p: compute_loss_and_grads(p))(params)
            mx.eval(single)
            total_loss += loss_val.item()
            total_kl += kl_val.item()
            accumulated = single if accumulated is None else tree_map(lambda a, b: a + b, accumulated, single)
        n = len(responses)
        return tree_map(lambda g: g / n, accumulated), total_loss / n, total_kl / n

    def train_step(self, step):
        rewards_all, loss_all, kl_all, gn_all = [], [], [], []
        for _ in range(PROMPTS_PER_STEP):
            prompt = int(mx.random.randint(0, VOCAB, ()).item())
            responses = self.generate(prompt)
            rewards = [self.reward(prompt, r) for r in responses]
            mean = sum(rewards) / GROUP
            std = (sum((r - mean) ** 2 for r in rewards) / GROUP) ** 0.5
            advantages = [(r - mean) / (std + 1e-4) for r in rewards]
            old_lps = [seq_log_prob(self.model, prompt, r).item() for r in responses]
            ref_lps = [seq_log_prob(self.ref_model, prompt, r).item() for r in responses]
            grads, loss, kl = self.compute_grads(prompt, responses, advantages, old_lps, ref_lps)
            gnorm = sum(mx.sum(g * g).item() for _, g in tree_flatten(grads)) ** 0.5
            self.opt.update(self.model, grads)
            mx.eval(self.model.parameters(), self.opt.state)
            rewards_all.append(mean); loss_all.append(loss); kl_all.append(kl); gn_all.append(gnorm)
        k = len(rewards_all)
        return sum(rewards_all) / k, sum(loss_all) / k, sum(kl_all) / k, sum(gn_all) / k


def main():
    trainer = GRPOTrainer()
    t0 = time.time()
    for step in range(1, STEPS + 1):
        r, loss, kl, gn = trainer.train_step(step)
        if step % 5 == 0 or step == 1:
            print(f"Training step {step:3d} | reward {r:.3f} | loss {loss:+.4f} | kl {kl:.4f} | grad_norm {gn:.4f}")
    # greedy evaluation
    prompts = mx.arange(VOCAB)
    pred = mx.argmax(trainer.model(prompts), axis=-1)
    acc = mx.mean(pred == ((prompts + 1) % VOCAB)[:, None]).item()
    print(f"*** Evaluation: greedy token accuracy {acc:.2%} ({time.time() - t0:.1f}s) ***")


if __name__ == "__main__":
    main()
