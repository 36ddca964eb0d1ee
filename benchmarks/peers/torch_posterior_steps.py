"""PyTorch side of benchmark-foundation's two conditional-sampling steps on inpainting.

Both run on the shipped Fashion-MNIST prior's U-Net (torch_unet.UNet with base 32,
multipliers (1, 2, 2), one residual block per level, 8 groups, 1x32x32 images) with
random weights: the step costs depend on the architecture, not on the weights. The
observation keeps every pixel outside the centre 14x14 box (rows and columns 9 to 22),
with noise standard deviation 0.05.

- dps: one DPS step at batch 8 as Samplers/DPSSampler.swift takes it. It computes eps
  with the graph, Tweedie's x0 and the per-sample norm of y - A(x0). The update is the
  ancestral step minus 0.5 times the norm's gradient with respect to x_t through the
  U-Net. Like the Swift side, it times samples of --dps-schedule-steps DDPM steps and
  divides by that count.
- deft: one DEFT fine-tuning step at batch 16 as DEFTScoreMatching's trainer takes it:
  the prior's eps without a graph, x0 clamped to [-1, 1], g = m (y - m x0) / sigma^2,
  the h-network U-Net (base 8, multipliers (1, 2, 2), 4 groups, inputs x_t, x0, g, y and
  the mask) plus exp(MLP 32-32-1 of a 32-entry time embedding) c_t g, the loss
  sum((h + eps_prior - eps)^2) / batch, gradient clipping at norm 1, Adam at 1e-3 and a
  moving average of decay 0.995.

Prints one JSON object with the median seconds per step over --steps timed calls after
--warmup untimed ones.
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_unet import SinusoidalTimeEmbedding, UNet

SIDE = 32
NOISE_STANDARD_DEVIATION = 0.05


def time_steps(step, warmup, steps):
    for _ in range(warmup):
        step()
    samples = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def linear_alpha_bars(count, beta_start=1e-4, beta_end=0.02):
    """Return the betas, alphas and cumulative products of a linear DDPM schedule of `count` steps."""
    betas = torch.linspace(beta_start, beta_end, count, dtype=torch.float64)
    alphas = 1 - betas
    return betas, alphas, torch.cumprod(alphas, dim=0)


def inpainting_mask():
    mask = torch.ones(1, 1, SIDE, SIDE)
    mask[:, :, 9:23, 9:23] = 0
    return mask


def prior_unet():
    return UNet(in_channels=1, base_channels=32, channel_multipliers=(1, 2, 2), blocks_per_level=1, groups=8)


def per_sample(values):
    return values.to(torch.float32)[:, None, None, None]


def dps_update(prior, x, y, mask, schedule, k, scale, ancestral_noise):
    """Take one DPS step from x at DDPM index k of `schedule` (betas, alphas, alpha_bars).

    `ancestral_noise` is the standard normal draw of the ancestral step, unused at k = 0.
    """
    betas, alphas, alpha_bars = schedule
    beta, alpha, alpha_bar = betas[k].item(), alphas[k].item(), alpha_bars[k].item()
    previous = alpha_bars[k - 1].item() if k > 0 else 1.0

    state = x.detach().requires_grad_(True)
    noise = prior(state, torch.full((x.shape[0],), float(k)))
    tweedie = (state - math.sqrt(1 - alpha_bar) * noise) / math.sqrt(alpha_bar)
    residual = y - mask * tweedie
    norms = torch.sqrt(residual.square().flatten(1).sum(1) + torch.finfo(torch.float32).tiny)
    (gradient,) = torch.autograd.grad(norms.sum(), state)

    with torch.no_grad():
        following = (x - noise * (beta / math.sqrt(1 - alpha_bar))) / math.sqrt(alpha)
        if k > 0:
            variance = beta * (1 - previous) / (1 - alpha_bar)
            following = following + ancestral_noise * math.sqrt(variance)
        return following - gradient * scale


def dps_step_seconds(warmup, steps, schedule_steps, batch=8, scale=0.5):
    torch.manual_seed(0)
    prior = prior_unet()
    prior.requires_grad_(False)
    schedule = linear_alpha_bars(schedule_steps)
    mask = inpainting_mask()
    y = mask * (torch.rand(batch, 1, SIDE, SIDE) * 2 - 1 + NOISE_STANDARD_DEVIATION * torch.randn(batch, 1, SIDE, SIDE))
    initial = torch.randn(batch, 1, SIDE, SIDE)

    def sample():
        x = initial
        for k in reversed(range(schedule_steps)):
            x = dps_update(prior, x, y, mask, schedule, k, scale, torch.randn_like(x) if k > 0 else None)
        return x

    return time_steps(sample, warmup, steps) / schedule_steps


class ImageHTransformNetwork(nn.Module):
    """NN1 (a U-Net on x_t, x0, g and the features) plus exp(NN2(t)) c_t g."""

    def __init__(self, feature_channels=2):
        super().__init__()
        self.correction = UNet(
            in_channels=3 + feature_channels, out_channels=1, base_channels=8, channel_multipliers=(1, 2, 2),
            blocks_per_level=1, groups=4,
        )
        self.guidance_embedding = SinusoidalTimeEmbedding(32)
        self.guidance_scale = nn.Sequential(nn.Linear(32, 32), nn.SiLU(), nn.Linear(32, 1))

    def forward(self, state, tweedie, gradient, features, t, coefficients):
        learned = self.correction(torch.cat([state, tweedie, gradient, features], dim=1), t)
        scale = torch.exp(self.guidance_scale(self.guidance_embedding(t)))[:, :, None, None]
        return learned + scale * (gradient * coefficients)


def deft_loss(network, prior, alpha_bars, mask, x0, observation_noise, times, noise):
    """Compute the DEFT loss of `network` on clean images x0 at DDPM indices `times`.

    `observation_noise` and `noise` are standard normal draws shaped like x0: the
    observation's noise and the forward process's noise.
    """
    batch = x0.shape[0]
    y = mask * (x0 + NOISE_STANDARD_DEVIATION * observation_noise)
    features = torch.cat([y, mask.expand(batch, 1, SIDE, SIDE)], dim=1)
    levels = alpha_bars[times]
    signal, noise_scale = per_sample(levels.sqrt()), per_sample((1 - levels).sqrt())
    state = x0 * signal + noise * noise_scale

    with torch.no_grad():
        prior_noise = prior(state, times.to(torch.float32))
        tweedie = ((state - prior_noise * noise_scale) / signal).clamp(-1, 1)
        gradient = mask * (y - mask * tweedie) / NOISE_STANDARD_DEVIATION**2
        coefficients = -noise_scale / signal

    h = network(state, tweedie, gradient, features, times.to(torch.float32), coefficients)
    return (h + prior_noise - noise).square().sum() / batch


def deft_step_seconds(warmup, steps, batch=16, images=64):
    torch.manual_seed(0)
    prior = prior_unet()
    prior.requires_grad_(False)
    network = ImageHTransformNetwork()
    parameters = list(network.parameters())
    optimizer = torch.optim.Adam(parameters, lr=1e-3)
    average = [p.detach().clone() for p in parameters]
    _, _, alpha_bars = linear_alpha_bars(1000)
    mask = inpainting_mask()
    clean = torch.rand(images, 1, SIDE, SIDE) * 2 - 1

    def step():
        x0 = clean[torch.randint(images, (batch,))]
        optimizer.zero_grad(set_to_none=True)
        loss = deft_loss(
            network, prior, alpha_bars, mask, x0, torch.randn_like(x0), torch.randint(1000, (batch,)), torch.randn_like(x0))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        with torch.no_grad():
            torch._foreach_lerp_(average, [p.detach() for p in parameters], 1 - 0.995)

    return time_steps(step, warmup, steps), sum(p.numel() for p in parameters)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=int, default=2, help="untimed DEFT steps before timing (DPS warms up with one sample)")
    parser.add_argument("--steps", type=int, default=20, help="timed calls of each workload")
    parser.add_argument("--dps-schedule-steps", type=int, default=10, help="DDPM steps of each timed DPS sample")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--only", choices=["dps", "deft"], help="time only this workload (default: both)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    figures = {"torch_version": torch.__version__, "threads": torch.get_num_threads()}
    if args.only in (None, "dps"):
        figures["dps_step"] = dps_step_seconds(1, args.steps, args.dps_schedule_steps)
    if args.only in (None, "deft"):
        figures["deft_step"], figures["deft_h_network_parameters"] = deft_step_seconds(args.warmup, args.steps)
    else:
        figures["deft_h_network_parameters"] = sum(p.numel() for p in ImageHTransformNetwork().parameters())
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
