"""Background-prefetched training: a producer thread builds augmented batches
on its own stream while the main thread trains."""
import queue
import threading

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_BATCHES = 120
SENTINEL = None


def augment(xb, noise_key):
    jitter = 0.05 * mx.random.normal(xb.shape, key=noise_key)
    flip = mx.where(mx.random.uniform(shape=(xb.shape[0], 1), key=noise_key) > 0.5, -1.0, 1.0)
    return xb * flip + jitter


def producer(out_q, stream, w_true, n_batches):
    key = mx.random.key(123)
    with mx.stream(stream):
        for _ in range(n_batches):
            key, k1, k2 = mx.random.split(key, 3)
            xb = mx.random.normal((128, 16), key=k1)
            xb = augment(xb, k2)
            yb = (xb @ w_true).squeeze(-1) ** 2  # even function: survives the flip
            mx.eval(xb, yb)
            out_q.put((xb, yb))
    out_q.put(SENTINEL)


def main():
    mx.random.seed(0)
    w_true = mx.random.normal((16, 1)) / 4.0
    mx.eval(w_true)
    prefetch_stream = mx.new_stream(mx.default_device())
    q = queue.Queue(maxsize=8)
    worker = threading.Thread(target=producer, args=(q, prefetch_stream, w_true, N_BATCHES), daemon=True)
    worker.start()

    net = nn.Sequential(nn.Linear(16, 64), nn.GELU(), nn.Linear(64, 1))
    opt = optim.Adam(learning_rate=3e-3)
    loss_grad = nn.value_and_grad(net, lambda m, x, y: nn.losses.mse_loss(m(x).squeeze(-1), y))

    step = 0
    while True:
        item = q.get()
        if item is SENTINEL:
            break
        xb, yb = item
        loss, grads = loss_grad(net, xb, yb)
        opt.update(net, grads)
        mx.eval(net.parameters(), opt.state)
        if step % 20 == 0:
            print(f"step {step:3d} mse {loss.item():.4f}", flush=True)
        step += 1
    worker.join()
    print(f"trained {step} steps, last mse {loss.item():.4f}")


if __name__ == "__main__":
    main()
