"""PyTorch side of the foundation benchmark: the same workloads as benchmark-foundation.

Prints one JSON object with the median seconds per step of each workload over `--steps`
timed steps after `--warmup` untimed ones. Run by benchmark-foundation, which alternates
it with the Swift implementation in one invocation.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch.utils.flop_counter import FlopCounterMode

from torch_unet import UNet


def time_steps(step, warmup, steps):
    for _ in range(warmup):
        step()
    samples = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def count_flops(step):
    """Floating-point operations of one call, counted by PyTorch's FlopCounterMode."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def mlp_adam_step_seconds(warmup, steps):
    """One Adam step of an MLP 2-128-128-128-2 with SiLU on a batch of 512, mean-squared error."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(2, 128), nn.SiLU(),
        nn.Linear(128, 128), nn.SiLU(),
        nn.Linear(128, 128), nn.SiLU(),
        nn.Linear(128, 2),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(512, 2)
    y = torch.randn(512, 2)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()

    return time_steps(step, warmup, steps), count_flops(step)


def unet_forward_backward_seconds(warmup, steps):
    """Forward and backward of the U-Net (32/64/128 channels) on a batch of 32 images of 1x28x28."""
    torch.manual_seed(0)
    model = UNet(in_channels=1, base_channels=32, channel_multipliers=(1, 2, 4))
    x = torch.randn(32, 1, 28, 28)
    t = torch.rand(32) * 1000
    target = torch.randn(32, 1, 28, 28)

    def step():
        model.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x, t), target)
        loss.backward()

    return time_steps(step, warmup, steps), sum(p.numel() for p in model.parameters()), count_flops(step)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    unet_seconds, unet_parameters, unet_flops = unet_forward_backward_seconds(args.warmup, args.steps)
    mlp_seconds, mlp_flops = mlp_adam_step_seconds(args.warmup, args.steps * 10)
    print(json.dumps({
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "mlp_adam_step": mlp_seconds,
        "mlp_adam_step_flops": mlp_flops,
        "unet_forward_backward": unet_seconds,
        "unet_forward_backward_flops": unet_flops,
        "unet_parameters": unet_parameters,
    }))


if __name__ == "__main__":
    main()
