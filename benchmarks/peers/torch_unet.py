"""The library's U-Net (NeuralNetworks/UNet.swift) written in PyTorch, layer for layer.

Time: e = SiLU(Linear(E->E)(SiLU(Linear(c0->E)(sinusoidal_c0(t))))), E = 4 c0, with the
sinusoidal embedding [sin(t w_k), cos(t w_k)], w_k = exp(-ln(10000) k / h), h = c0 / 2.
Each level has residual blocks GroupNorm-SiLU-Conv3x3, plus Linear(e) broadcast over
space, GroupNorm-SiLU-Conv3x3, plus a 1x1 skip convolution when channels change.
Downsampling is a stride-2 3x3 convolution, upsampling nearest x2 then a 3x3
convolution, and skips are concatenated along channels.

The sizes are parameters, as in UNetConfiguration: `out_channels` defaults to
`in_channels`, and `time_scale` multiplies t before the embedding.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class SinusoidalTimeEmbedding(nn.Module):
    def __init__(self, dimension, max_period=10_000.0, time_scale=1.0):
        super().__init__()
        self.time_scale = time_scale
        half = dimension // 2
        frequencies = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
        self.register_buffer("frequencies", frequencies)

    def forward(self, t):
        arguments = (t * self.time_scale)[:, None] * self.frequencies[None, :]
        return torch.cat([torch.sin(arguments), torch.cos(arguments)], dim=1)


class ResidualBlock(nn.Module):
    def __init__(self, input_channels, output_channels, time_features, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, input_channels)
        self.conv1 = nn.Conv2d(input_channels, output_channels, 3, padding=1)
        self.time_projection = nn.Linear(time_features, output_channels)
        self.norm2 = nn.GroupNorm(groups, output_channels)
        self.conv2 = nn.Conv2d(output_channels, output_channels, 3, padding=1)
        self.skip = None if input_channels == output_channels else nn.Conv2d(input_channels, output_channels, 1)

    def forward(self, x, e):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_projection(e)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + (x if self.skip is None else self.skip(x))


class UNet(nn.Module):
    def __init__(
        self, in_channels=1, base_channels=32, channel_multipliers=(1, 2, 4), blocks_per_level=1, groups=8,
        out_channels=None, time_scale=1.0,
    ):
        super().__init__()
        channels = [base_channels * m for m in channel_multipliers]
        features = 4 * base_channels
        self.embedding = SinusoidalTimeEmbedding(base_channels, time_scale=time_scale)
        self.time = nn.Sequential(nn.Linear(base_channels, features), nn.SiLU(), nn.Linear(features, features))
        self.input_conv = nn.Conv2d(in_channels, channels[0], 3, padding=1)

        self.down_blocks = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        current = channels[0]
        for level, level_channels in enumerate(channels):
            blocks = nn.ModuleList()
            for index in range(blocks_per_level):
                blocks.append(ResidualBlock(current if index == 0 else level_channels, level_channels, features, groups))
            current = level_channels
            self.down_blocks.append(blocks)
            if level < len(channels) - 1:
                self.downsamples.append(nn.Conv2d(level_channels, level_channels, 3, stride=2, padding=1))

        self.upsamples = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        for level in reversed(range(len(channels) - 1)):
            self.upsamples.append(nn.Conv2d(current, channels[level], 3, padding=1))
            blocks = nn.ModuleList()
            for index in range(blocks_per_level):
                blocks.append(ResidualBlock(2 * channels[level] if index == 0 else channels[level], channels[level], features, groups))
            self.up_blocks.append(blocks)
            current = channels[level]

        self.output_norm = nn.GroupNorm(groups, channels[0])
        self.output_conv = nn.Conv2d(channels[0], in_channels if out_channels is None else out_channels, 3, padding=1)

    def forward(self, x, t):
        e = F.silu(self.time(self.embedding(t)))
        h = self.input_conv(x)
        skips = []
        for level, blocks in enumerate(self.down_blocks):
            for block in blocks:
                h = block(h, e)
            skips.append(h)
            if level < len(self.downsamples):
                h = self.downsamples[level](h)
        for upsample, blocks, skip in zip(self.upsamples, self.up_blocks, reversed(skips[:-1])):
            h = upsample(F.interpolate(h, scale_factor=2, mode="nearest"))
            h = torch.cat([h, skip], dim=1)
            for block in blocks:
                h = block(h, e)
        return self.output_conv(F.silu(self.output_norm(h)))
