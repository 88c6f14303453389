"""Functional (no nn.Module) softmax regression; the batch augmentation runs on
a side stream so it can overlap with the update."""
import time

import mlx.core as mx
import mlx.optimizers as optim


def threads_and_rss():
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("Threads:", "VmRSS:")):
                k, v = line.split(":", 1)
                out[k] = int(v.split()[0])
    return out["Threads"], out["VmRSS"] // 1024


AUG_STREAM = mx.new_stream(mx.cpu)


def augment(xb):
    with mx.stream(AUG_STREAM):
        noise = 0.05 * mx.random.normal(xb.shape)
        scale = mx.random.uniform(0.9, 1.1, (xb.shape[0], 1))
        return xb * scale + noise


def logits_fn(params, x):
    return x @ params["w"] + params["b"]


def xent(params, x, y):
    lg = logits_fn(params, x)
    return (mx.logsumexp(lg, axis=-1) - mx.take_along_axis(lg, y[:, None], axis=-1).squeeze(-1)).mean()


def main(total_steps=2000, batch=32, d=16, k=5):
    mx.random.seed(0)
    X = mx.random.normal((4096, d))
    Y = mx.argmax(X @ mx.random.normal((d, k)), axis=-1)
    params = {"w": mx.zeros((d, k)), "b": mx.zeros((k,))}
    opt = optim.SGD(learning_rate=0.2)
    vg = mx.value_and_grad(xent)

    t0 = time.perf_counter()
    step = 0
    while step < total_steps:
        i = (step * batch) % X.shape[0]
        xb = augment(X[i:i + batch])
        loss, grads = vg(params, xb, Y[i:i + batch])
        params = opt.apply_gradients(grads, params)
        mx.eval(params, loss)
        step += 1
        if step % 500 == 0:
            th, rss = threads_and_rss()
            print(f"step {step} loss {loss.item():.3f} threads {th} rss {rss} MiB "
                  f"elapsed {time.perf_counter() - t0:.2f}s")
    acc = (mx.argmax(logits_fn(params, X), -1) == Y).mean().item()
    print(f"train acc {acc:.3f}")


if __name__ == "__main__":
    main()
