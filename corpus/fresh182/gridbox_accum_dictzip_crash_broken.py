# Tiny single-object grid detector (YOLO-style, S=4, one box per cell, 2 classes)
# on synthetic 32x32 images: a bright square or a plus sign on a noisy background.
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)
S, IMG, C = 4, 32, 2
CELL = IMG // S


def make_batch(n, key):
    k1, k2, k3, k4 = mx.random.split(key, 4)
    cls = mx.random.randint(0, C, (n,), key=k1)
    cx = mx.random.uniform(4, IMG - 4, (n,), key=k2)
    cy = mx.random.uniform(4, IMG - 4, (n,), key=k3)
    half = 3.0
    ys = mx.arange(IMG, dtype=mx.float32)[None, :, None]
    xs = mx.arange(IMG, dtype=mx.float32)[None, None, :]
    dx = mx.abs(xs - cx[:, None, None])
    dy = mx.abs(ys - cy[:, None, None])
    square = (dx <= half) & (dy <= half)
    plus = ((dx <= 0.8) & (dy <= half)) | ((dy <= 0.8) & (dx <= half))
    shape = mx.where((cls == 0)[:, None, None], square, plus).astype(mx.float32)
    img = shape + 0.15 * mx.random.normal((n, IMG, IMG), key=k4)
    # target: [n, S, S, 5 + C] = (x_in_cell, y_in_cell, w, h, obj, one-hot class)
    gx = mx.floor(cx / CELL).astype(mx.int32)
    gy = mx.floor(cy / CELL).astype(mx.int32)
    cell = (mx.arange(S)[None, :, None] == gy[:, None, None]) & (mx.arange(S)[None, None, :] == gx[:, None, None])
    cell = cell.astype(mx.float32)[..., None]
    vals = mx.stack([cx / CELL - gx, cy / CELL - gy, mx.full(cx.shape, 7.0 / IMG), mx.full(cx.shape, 7.0 / IMG),
                     mx.ones(cx.shape)], axis=1)
    vals = mx.concatenate([vals, (cls[:, None] == mx.arange(C)[None, :]).astype(mx.float32)], axis=1)
    target = cell * vals[:, None, None, :]
    return img[..., None], target


class GridDetector(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
        )
        self.head = nn.Conv2d(32, 5 + C, 1)

    def __call__(self, x):
        return self.head(self.backbone(x))  # [n, S, S, 5 + C]


def yolo_loss(pred, target, lambda_coord=5.0, lambda_noobj=0.5):
    obj = target[..., 4]
    xy = mx.sigmoid(pred[..., 0:2])
    wh = mx.sigmoid(pred[..., 2:4])
    conf = mx.sigmoid(pred[..., 4])
    coord = mx.sum(obj[..., None] * ((xy - target[..., 0:2]) ** 2 + (mx.sqrt(wh) - mx.sqrt(target[..., 2:4] + 1e-6)) ** 2))
    conf_obj = mx.sum(obj * (conf - 1.0) ** 2)
    conf_noobj = mx.sum((1 - obj) * conf ** 2)
    cls_loss = mx.sum(obj[..., None] * (mx.softmax(pred[..., 5:], axis=-1) - target[..., 5:]) ** 2)
    n = pred.shape[0]
    return (lambda_coord * coord + conf_obj + lambda_noobj * conf_noobj + cls_loss) / n


def clip_gradients(gradients, max_norm: float = 10.0):
    """Clip gradients by global norm"""
    total_norm_sq = 0.0
    for grad in gradients.values():
        if isinstance(grad, mx.array):
            total_norm_sq += mx.sum(grad * grad).item()
    total_norm = mx.sqrt(total_norm_sq)
    clip_coef = float(max_norm / (total_norm + 1e-6))
    clip_coef = min(clip_coef, 1.0)
    return {k: (g * clip_coef if isinstance(g, mx.array) else g) for k, g in gradients.items()}


def adjust_learning_rate(optimizer, epoch, initial_lr, warmup_epochs=2):
    lr = initial_lr * (epoch + 1) / warmup_epochs if epoch < warmup_epochs else initial_lr
    optimizer.learning_rate = lr
    return lr


def detection_accuracy(model, images, targets):
    pred = model(images)
    n = pred.shape[0]
    pcell = mx.argmax(mx.sigmoid(pred[..., 4]).reshape(n, -1), axis=1)
    tcell = mx.argmax(targets[..., 4].reshape(n, -1), axis=1)
    pcls = mx.argmax(pred[..., 5:].reshape(n, S * S, C), axis=-1)[mx.arange(n), pcell]
    tcls = mx.argmax(targets[..., 5:].reshape(n, S * S, C), axis=-1)[mx.arange(n), tcell]
    return mx.mean((pcell == tcell) & (pcls == tcls)).item()


def train(num_epochs=5, batch_size=16, accumulation_steps=4, learning_rate=2e-3, max_grad_norm=10.0):
    model = GridDetector()
    mx.eval(model.parameters())
    optimizer = optim.Adam(learning_rate=learning_rate)
    batch_images, batch_targets = [], []
    for b in range(32):
        im, tg = make_batch(batch_size, mx.random.key(100 + b))
        batch_images.append(im)
        batch_targets.append(tg)
    val_images, val_targets = make_batch(256, mx.random.key(7))

    print("\nStarting training...")
    for epoch in range(num_epochs):
        epoch_loss = 0.0
        batch_count = 0
        accumulated_loss = 0.0
        accumulated_grads = None
        step_count = 0
        start_time = time.time()

        current_lr = adjust_learning_rate(optimizer, epoch, learning_rate)
        print(f"\nEpoch [{epoch+1}/{num_epochs}], Learning Rate: {current_lr:.6f}")
        total_batches = len(batch_images)

        for batch_idx in range(total_batches):
            images = batch_images[batch_idx]
            targets = batch_targets[batch_idx]

            def loss_fn(params):
                model.update(params)
                predictions = model(images)
                return yolo_loss(predictions, targets)

            loss, gradients = mx.value_and_grad(loss_fn)(model.parameters())
            loss = loss / accumulation_steps  # Normalize loss for gradient accumulation
            accumulated_loss += loss

            gradients = clip_gradients(gradients, max_grad_norm)

            # Accumulate gradients
            if accumulated_grads is None:
                accumulated_grads = gradients
            else:
                accumulated_grads = {
                    k: g1 + g2
                    for k, g1, g2 in zip(
                        gradients.keys(), gradients.values(), accumulated_grads.values()
                    )
                }

            step_count += 1
            if step_count == accumulation_steps:
                optimizer.update(model, accumulated_grads)
                mx.eval(model.parameters(), optimizer.state)

                epoch_loss += accumulated_loss.item() * accumulation_steps
                batch_count += 1
                step_count = 0
                accumulated_loss = 0.0
                accumulated_grads = None

                if batch_count % 4 == 0:
                    print(
                        f"Epoch [{epoch+1}/{num_epochs}], "
                        f"Batch [{batch_count}/{len(batch_images)//accumulation_steps}], "
                        f"Loss: {loss.item():.4f}"
                    )

        avg_loss = epoch_loss / batch_count
        end_time = time.time()
        acc = detection_accuracy(model, val_images, val_targets)
        print(
            f"Epoch [{epoch+1}/{num_epochs}], "
            f"Average Loss: {avg_loss:.4f}, "
            f"Val cell+class acc: {100 * acc:.1f}%, "
            f"Time: {end_time - start_time:.2f}s"
        )


if __name__ == "__main__":
    train()
