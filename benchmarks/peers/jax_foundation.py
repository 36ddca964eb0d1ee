"""JAX side of the foundation benchmark: the workloads of torch_foundation.py in plain jax.numpy.

Each step is one `jax.jit` function, compiled by the untimed warmup calls, and every timed
call blocks until its results are ready. Prints one JSON object with the median seconds
per step of each workload over `--steps` timed steps (ten times as many for the MLP, as
in torch_foundation.py). Run by benchmark-foundation, which alternates it with the Swift
implementation and PyTorch in one invocation. jax_agreement.py checks that these steps
compute what the PyTorch ones do.
"""
import argparse
import json
import sys
from functools import partial

try:
    import jax
    import jax.numpy as jnp
except ImportError as error:
    sys.exit(f"jax_foundation.py: cannot import jax ({error}); install the peers with benchmarks/peers/install")

import jax_unet
from jax_training import adam_state, adam_update, time_steps

MLP_SIZES = (2, 128, 128, 128, 2)


def mlp_parameters(key, sizes=MLP_SIZES):
    """Draw [(W [in, out], b [out])] with nn.Linear's default U(-1/sqrt(in), 1/sqrt(in))."""
    layers = []
    for inputs, outputs, subkey in zip(sizes[:-1], sizes[1:], jax.random.split(key, len(sizes) - 1)):
        weight_key, bias_key = jax.random.split(subkey)
        bound = 1 / inputs**0.5
        layers.append((
            jax.random.uniform(weight_key, (inputs, outputs), jnp.float32, -bound, bound),
            jax.random.uniform(bias_key, (outputs,), jnp.float32, -bound, bound),
        ))
    return layers


def mlp(layers, x):
    """Apply the linear layers with SiLU between them and none after the last."""
    for index, (weight, bias) in enumerate(layers):
        x = x @ weight + bias
        if index < len(layers) - 1:
            x = jax.nn.silu(x)
    return x


def mlp_loss(layers, x, y):
    """Return the mean-squared error over every entry, as F.mse_loss does."""
    return jnp.mean(jnp.square(mlp(layers, x) - y))


@partial(jax.jit, donate_argnums=(0, 1))
def mlp_adam_step(layers, state, x, y):
    loss, gradients = jax.value_and_grad(mlp_loss)(layers, x, y)
    layers, state = adam_update(layers, gradients, state, learning_rate=1e-3)
    return layers, state, loss


def mlp_adam_step_seconds(warmup, steps):
    """Time one Adam step of an MLP 2-128-128-128-2 with SiLU on a batch of 512, mean-squared error."""
    parameter_key, x_key, y_key = jax.random.split(jax.random.PRNGKey(0), 3)
    layers = mlp_parameters(parameter_key)
    state = adam_state(layers)
    x = jax.random.normal(x_key, (512, 2), jnp.float32)
    y = jax.random.normal(y_key, (512, 2), jnp.float32)

    def step():
        nonlocal layers, state
        layers, state, loss = mlp_adam_step(layers, state, x, y)
        jax.block_until_ready((layers, state, loss))

    return time_steps(step, warmup, steps)


UNET_CONFIGURATION = jax_unet.UNetConfiguration(in_channels=1, base_channels=32, channel_multipliers=(1, 2, 4))


def unet_loss(parameters, x, t, target):
    return jnp.mean(jnp.square(jax_unet.unet(parameters, UNET_CONFIGURATION, x, t) - target))


unet_loss_and_gradients = jax.jit(jax.value_and_grad(unet_loss))


def unet_forward_backward_seconds(warmup, steps):
    """Time the forward and backward pass of the U-Net (32/64/128 channels) on 32 images of 28x28x1."""
    parameter_key, x_key, t_key, target_key = jax.random.split(jax.random.PRNGKey(0), 4)
    parameters = jax_unet.initial_parameters(UNET_CONFIGURATION, parameter_key)
    x = jax.random.normal(x_key, (32, 28, 28, 1), jnp.float32)
    t = jax.random.uniform(t_key, (32,), jnp.float32) * 1000
    target = jax.random.normal(target_key, (32, 28, 28, 1), jnp.float32)

    def step():
        jax.block_until_ready(unet_loss_and_gradients(parameters, x, t, target))

    return time_steps(step, warmup, steps), jax_unet.parameter_count(parameters)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps before timing, the first of which compiles")
    parser.add_argument("--steps", type=int, default=20, help="timed U-Net steps; the MLP takes ten times as many")
    args = parser.parse_args()
    unet_seconds, unet_parameters = unet_forward_backward_seconds(args.warmup, args.steps)
    mlp_seconds = mlp_adam_step_seconds(args.warmup, args.steps * 10)
    print(json.dumps({
        "jax_version": jax.__version__,
        "backend": jax.default_backend(),
        "mlp_adam_step": mlp_seconds,
        "unet_forward_backward": unet_seconds,
        "unet_parameters": unet_parameters,
    }))


if __name__ == "__main__":
    main()
