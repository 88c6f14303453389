"""Few-shot scion grading: Reptile meta-init for a 4-way grader over 8 bark/leaf
measurements. Each orchard block is one task with its own shifted class centres."""

import copy
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
rng = np.random.default_rng(7)

N_WAY, DIM, K_SHOT, N_QUERY = 4, 8, 5, 15
BASE = rng.normal(0.0, 1.6, size=(N_WAY, DIM)).astype(np.float32)


def sample_block(shift=0.7, spread=0.8):
    centres = BASE + rng.normal(0.0, shift, size=BASE.shape).astype(np.float32)

    def draw(n):
        y = np.repeat(np.arange(N_WAY), n)
        x = centres[y] + rng.normal(0.0, spread, size=(len(y), DIM)).astype(np.float32)
        p = rng.permutation(len(y))
        return mx.array(x[p]), mx.array(y[p].astype(np.int32))

    sx, sy = draw(K_SHOT)
    qx, qy = draw(N_QUERY)
    return sx, sy, qx, qy


class Grader(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(DIM, 32)
        self.fc2 = nn.Linear(32, 32)
        self.head = nn.Linear(32, N_WAY)

    def __call__(self, x):
        return self.head(nn.relu(self.fc2(nn.relu(self.fc1(x)))))


def xent(logits, y):
    return nn.losses.cross_entropy(logits, y, reduction="mean")


def flatten_params(params):
    flat = {}

    def _flatten(d, head=""):
        for k, v in d.items():
            key = f"{head}.{k}" if head else k
            if isinstance(v, dict):
                _flatten(v, key)
            else:
                flat[key] = v

    _flatten(params)
    return flat


def unflatten_params(flat_params):
    nested = {}
    for key, value in flat_params.items():
        parts = key.split(".")
        current = nested
        for part in parts[:-1]:
            if part not in current:
                current[part] = {}
            current = current[part]
        current[parts[-1]] = value
    return nested


class ReptileLearner:
    def __init__(self, model, inner_lr=0.1, outer_lr=0.3, num_inner_steps=5):
        self.model = model
        self.inner_lr = inner_lr
        self.outer_lr = outer_lr
        self.num_inner_steps = num_inner_steps
        self.meta_params = copy.deepcopy(dict(model.parameters()))

    def inner_loop(self, support_x, support_y, loss_fn):
        task_model = copy.deepcopy(self.model)
        task_optimizer = optim.SGD(learning_rate=self.inner_lr)
        for step in range(self.num_inner_steps):
            def loss_and_grad_fn(model):
                logits = model(support_x)
                loss = loss_fn(logits, support_y)
                return loss, dict(model.parameters())

            (loss, _), grads = mx.value_and_grad(loss_and_grad_fn)(task_model)
            task_optimizer.update(task_model, grads)
            mx.eval(task_model.parameters())
        return dict(task_model.parameters())

    def outer_loop_update(self, task_params_list):
        flat_meta_params = flatten_params(self.meta_params)
        flat_task_params_list = [flatten_params(tp) for tp in task_params_list]

        mean_task_params = {}
        for key in flat_meta_params.keys():
            task_param_stack = mx.stack(
                [task_params[key] for task_params in flat_task_params_list]
            )
            mean_task_params[key] = mx.mean(task_param_stack, axis=0)

        flat_new_params = {}
        for key in flat_meta_params.keys():
            flat_new_params[key] = flat_meta_params[key] + self.outer_lr * (
                mean_task_params[key] - flat_meta_params[key]
            )

        self.meta_params = unflatten_params(flat_new_params)
        self.model.update(self.meta_params)
        mx.eval(self.model.parameters())

    def meta_train_step(self, episodes, loss_fn):
        task_params_list, inner_losses, query_losses, query_accs = [], [], [], []
        for support_x, support_y, query_x, query_y in episodes:
            task_params = self.inner_loop(support_x, support_y, loss_fn)
            task_params_list.append(task_params)
            task_model = copy.deepcopy(self.model)
            task_model.update(task_params)
            query_logits = task_model(query_x)
            query_losses.append(float(loss_fn(query_logits, query_y)))
            query_accs.append(float(mx.mean(mx.argmax(query_logits, axis=-1) == query_y)))
            inner_losses.append(float(loss_fn(task_model(support_x), support_y)))
        self.outer_loop_update(task_params_list)
        n = len(episodes)
        return {
            "inner_loss": sum(inner_losses) / n,
            "query_loss": sum(query_losses) / n,
            "query_accuracy": sum(query_accs) / n,
        }


def adapt_and_score(init_model, blocks, steps, lr=0.1):
    accs = []
    for sx, sy, qx, qy in blocks:
        m = copy.deepcopy(init_model)
        opt = optim.SGD(learning_rate=lr)
        step_fn = nn.value_and_grad(m, lambda mm, x, y: xent(mm(x), y))
        for _ in range(steps):
            _, g = step_fn(m, sx, sy)
            opt.update(m, g)
            mx.eval(m.parameters())
        accs.append(float(mx.mean(mx.argmax(m(qx), axis=-1) == qy)))
    return float(np.mean(accs))


def main():
    t0 = time.time()
    model = Grader()
    mx.eval(model.parameters())
    scratch = copy.deepcopy(model)
    held_out = [sample_block() for _ in range(40)]

    print(f"before meta-training: 5-step acc from this init {adapt_and_score(model, held_out, 5):.3f}")
    learner = ReptileLearner(model)
    meta_steps, tasks_per_step = 150, 4
    for it in range(1, meta_steps + 1):
        episodes = [sample_block() for _ in range(tasks_per_step)]
        m = learner.meta_train_step(episodes, xent)
        if it % 15 == 0 or it == 1:
            print(
                f"meta step {it:4d} | inner_loss {m['inner_loss']:.4f} | "
                f"query_loss {m['query_loss']:.4f} | query_acc {m['query_accuracy']:.3f}"
            )

    for k in (0, 1, 5):
        meta_acc = adapt_and_score(model, held_out, k)
        base_acc = adapt_and_score(scratch, held_out, k)
        print(f"held-out blocks, {k} steps: meta-init acc {meta_acc:.3f} | scratch-init acc {base_acc:.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
