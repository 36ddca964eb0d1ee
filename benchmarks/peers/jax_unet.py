"""The library's U-Net (NeuralNetworks/UNet.swift) in plain JAX, layer for layer as torch_unet.py.

The architecture is the one torch_unet.py describes. A sinusoidal time embedding feeds a
two-layer time MLP. Each residual block is GroupNorm-SiLU-Conv3x3, plus a per-channel
time shift, then GroupNorm-SiLU-Conv3x3, plus a 1x1 skip convolution when channels
change. Stride-2 3x3 convolutions go down, nearest x2 upsampling then a 3x3 convolution
goes up, and skips are concatenated along channels.

Activations are NHWC and convolution kernels HWIO, the layouts XLA's CPU convolutions
take. Parameters are a flat dict keyed by the names of torch_unet.UNet's state_dict, so
`from_torch` copies a PyTorch model's weights. Linear weights are stored [in, out]. A
GroupNorm's weight and bias are [C], and convolution biases are [C_out].
"""
import math

import jax
import jax.numpy as jnp
import numpy as np

GROUP_NORM_EPSILON = 1e-5  # torch.nn.GroupNorm's default


class UNetConfiguration:
    """The sizes of a U-Net, with torch_unet.UNet's arguments and defaults."""

    def __init__(
        self, in_channels=1, base_channels=32, channel_multipliers=(1, 2, 4), blocks_per_level=1, groups=8,
        out_channels=None, time_scale=1.0,
    ):
        self.in_channels = in_channels
        self.base_channels = base_channels
        self.channels = [base_channels * m for m in channel_multipliers]
        self.blocks_per_level = blocks_per_level
        self.groups = groups
        self.out_channels = in_channels if out_channels is None else out_channels
        self.time_scale = time_scale
        self.features = 4 * base_channels


def parameter_shapes(configuration):
    """Return {torch state_dict name: (shape, fan_in)} of every parameter, in torch's order.

    fan_in is None for GroupNorm parameters, which start at weight 1 and bias 0.
    """
    c = configuration
    shapes = {}

    def linear(name, inputs, outputs):
        shapes[f"{name}.weight"] = ((inputs, outputs), inputs)
        shapes[f"{name}.bias"] = ((outputs,), inputs)

    def conv(name, inputs, outputs, kernel):
        shapes[f"{name}.weight"] = ((kernel, kernel, inputs, outputs), inputs * kernel * kernel)
        shapes[f"{name}.bias"] = ((outputs,), inputs * kernel * kernel)

    def group_norm(name, channels):
        shapes[f"{name}.weight"] = ((channels,), None)
        shapes[f"{name}.bias"] = ((channels,), None)

    def residual_block(name, inputs, outputs):
        group_norm(f"{name}.norm1", inputs)
        conv(f"{name}.conv1", inputs, outputs, 3)
        linear(f"{name}.time_projection", c.features, outputs)
        group_norm(f"{name}.norm2", outputs)
        conv(f"{name}.conv2", outputs, outputs, 3)
        if inputs != outputs:
            conv(f"{name}.skip", inputs, outputs, 1)

    linear("time.0", c.base_channels, c.features)
    linear("time.2", c.features, c.features)
    conv("input_conv", c.in_channels, c.channels[0], 3)
    current = c.channels[0]
    for level, level_channels in enumerate(c.channels):
        for index in range(c.blocks_per_level):
            residual_block(f"down_blocks.{level}.{index}", current if index == 0 else level_channels, level_channels)
        current = level_channels
        if level < len(c.channels) - 1:
            conv(f"downsamples.{level}", level_channels, level_channels, 3)
    for position, level in enumerate(reversed(range(len(c.channels) - 1))):
        conv(f"upsamples.{position}", current, c.channels[level], 3)
        for index in range(c.blocks_per_level):
            inputs = 2 * c.channels[level] if index == 0 else c.channels[level]
            residual_block(f"up_blocks.{position}.{index}", inputs, c.channels[level])
        current = c.channels[level]
    group_norm("output_norm", c.channels[0])
    conv("output_conv", c.channels[0], c.out_channels, 3)
    return shapes


def initial_parameters(configuration, key):
    """Draw a U-Net's parameters as torch_unet.UNet initialises them (see `draw_parameters`)."""
    return draw_parameters(parameter_shapes(configuration), key)


def draw_parameters(shapes, key):
    """Draw {name: (shape, fan_in)} with PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    Entries whose fan_in is None are GroupNorm's: weights start at 1 and biases at 0.
    """
    keys = jax.random.split(key, len(shapes))
    parameters = {}
    for (name, (shape, fan_in)), subkey in zip(shapes.items(), keys):
        if fan_in is None:
            parameters[name] = jnp.ones(shape) if name.endswith("weight") else jnp.zeros(shape)
        else:
            bound = 1 / math.sqrt(fan_in)
            parameters[name] = jax.random.uniform(subkey, shape, jnp.float32, -bound, bound)
    return parameters


def from_torch(state_dict, prefix=""):
    """Convert the float32 tensors of a torch state_dict to this module's layouts.

    Keeps the entries whose name starts with `prefix` and strips it, and skips buffers
    such as the embedding's frequencies.
    """
    parameters = {}
    for name, tensor in state_dict.items():
        if not name.startswith(prefix) or name.endswith("frequencies"):
            continue
        value = tensor.detach().cpu().numpy()
        if value.ndim == 4:
            value = value.transpose(2, 3, 1, 0)  # OIHW -> HWIO
        elif value.ndim == 2:
            value = value.T  # [out, in] -> [in, out]
        parameters[name[len(prefix):]] = jnp.asarray(np.ascontiguousarray(value))
    return parameters


def sinusoidal_embedding(t, dimension, max_period=10_000.0, time_scale=1.0):
    """Return [sin(t w_k), cos(t w_k)] with w_k = exp(-ln(max_period) k / h), h = dimension / 2."""
    half = dimension // 2
    frequencies = jnp.exp(-math.log(max_period) * jnp.arange(half, dtype=jnp.float32) / half)
    arguments = (t * time_scale)[:, None] * frequencies[None, :]
    return jnp.concatenate([jnp.sin(arguments), jnp.cos(arguments)], axis=1)


def linear(parameters, name, x):
    return x @ parameters[f"{name}.weight"] + parameters[f"{name}.bias"]


def conv(parameters, name, x, stride=1):
    weight = parameters[f"{name}.weight"]
    padding = weight.shape[0] // 2
    y = jax.lax.conv_general_dilated(
        x, weight, window_strides=(stride, stride), padding=((padding, padding), (padding, padding)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y + parameters[f"{name}.bias"]


def group_norm(parameters, name, x, groups):
    """Normalise NHWC x with the mean and biased variance over space and the channels of each group."""
    n, height, width, channels = x.shape
    grouped = x.reshape(n, height, width, groups, channels // groups)
    mean = grouped.mean(axis=(1, 2, 4), keepdims=True)
    variance = jnp.square(grouped - mean).mean(axis=(1, 2, 4), keepdims=True)
    normalised = ((grouped - mean) * jax.lax.rsqrt(variance + GROUP_NORM_EPSILON)).reshape(x.shape)
    return normalised * parameters[f"{name}.weight"] + parameters[f"{name}.bias"]


def residual_block(parameters, name, x, e, groups):
    h = conv(parameters, f"{name}.conv1", jax.nn.silu(group_norm(parameters, f"{name}.norm1", x, groups)))
    h = h + linear(parameters, f"{name}.time_projection", e)[:, None, None, :]
    h = conv(parameters, f"{name}.conv2", jax.nn.silu(group_norm(parameters, f"{name}.norm2", h, groups)))
    skip = x if f"{name}.skip.weight" not in parameters else conv(parameters, f"{name}.skip", x)
    return h + skip


def upsample_nearest(x):
    """Upsample NHWC x by 2 in height and width, repeating each pixel (nearest neighbour)."""
    n, height, width, channels = x.shape
    doubled = jnp.broadcast_to(x[:, :, None, :, None, :], (n, height, 2, width, 2, channels))
    return doubled.reshape(n, 2 * height, 2 * width, channels)


def unet(parameters, configuration, x, t):
    """Apply the U-Net to x [N, H, W, C_in] at times t [N] and return [N, H, W, C_out]."""
    c = configuration
    embedding = sinusoidal_embedding(t, c.base_channels, time_scale=c.time_scale)
    e = jax.nn.silu(linear(parameters, "time.2", jax.nn.silu(linear(parameters, "time.0", embedding))))
    h = conv(parameters, "input_conv", x)

    skips = []
    for level in range(len(c.channels)):
        for index in range(c.blocks_per_level):
            h = residual_block(parameters, f"down_blocks.{level}.{index}", h, e, c.groups)
        skips.append(h)
        if level < len(c.channels) - 1:
            h = conv(parameters, f"downsamples.{level}", h, stride=2)

    for position, skip in enumerate(reversed(skips[:-1])):
        h = conv(parameters, f"upsamples.{position}", upsample_nearest(h))
        h = jnp.concatenate([h, skip], axis=3)
        for index in range(c.blocks_per_level):
            h = residual_block(parameters, f"up_blocks.{position}.{index}", h, e, c.groups)

    return conv(parameters, "output_conv", jax.nn.silu(group_norm(parameters, "output_norm", h, c.groups)))


def parameter_count(parameters):
    return sum(int(np.prod(value.shape)) for value in parameters.values())
