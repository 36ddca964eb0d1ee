"""JAX side of benchmark-foundation's two conditional-sampling steps on inpainting.

The workloads of torch_posterior_steps.py, whose docstring describes them, in plain
jax.numpy on jax_unet's U-Net with random weights: one DPS step at batch 8 and one DEFT
fine-tuning step at batch 16. A DPS sample of --dps-schedule-steps DDPM steps is a
Python loop over one `jax.jit` step, and its median time is divided by that count. The
DEFT step is one `jax.jit` function that draws the batch, evaluates the prior,
differentiates the loss, clips, takes the Adam step and updates the moving average.
Untimed calls compile both first, and every timed call blocks until its results are
ready. Images are NHWC, so a batch of 8 images is [8, 32, 32, 1].

Prints one JSON object with the median seconds per step over --steps timed calls after
--warmup untimed ones. jax_agreement.py checks `dps_update` and `deft_loss` against
their PyTorch counterparts.
"""
import argparse
import json
import sys
from functools import partial

try:
    import jax
    import jax.numpy as jnp
except ImportError as error:
    sys.exit(f"jax_posterior_steps.py: cannot import jax ({error}); install the peers with benchmarks/peers/install")

import numpy as np

import jax_unet
from jax_training import adam_state, adam_update, clip_gradient_norm, moving_average_update, time_steps

SIDE = 32
NOISE_STANDARD_DEVIATION = 0.05
DPS_SCALE = 0.5
FLOAT32_TINY = float(np.finfo(np.float32).tiny)

PRIOR = jax_unet.UNetConfiguration(in_channels=1, base_channels=32, channel_multipliers=(1, 2, 2), groups=8)
CORRECTION = jax_unet.UNetConfiguration(
    in_channels=5, out_channels=1, base_channels=8, channel_multipliers=(1, 2, 2), groups=4)
GUIDANCE_EMBEDDING = 32


def linear_alpha_bars(count, beta_start=1e-4, beta_end=0.02):
    """Return the betas, alphas and cumulative products of a linear DDPM schedule, in float64."""
    betas = np.linspace(beta_start, beta_end, count, dtype=np.float64)
    alphas = 1 - betas
    return betas, alphas, np.cumprod(alphas)


def inpainting_mask():
    """Return the [1, 32, 32, 1] mask: 0 on the centre 14x14 box (rows and columns 9 to 22), 1 elsewhere."""
    mask = np.ones((1, SIDE, SIDE, 1), np.float32)
    mask[:, 9:23, 9:23, :] = 0
    return jnp.asarray(mask)


def dps_coefficients(count):
    """Return the float32 per-index factors of the DPS update, computed in float64 as the torch script does.

    For DDPM index k: sqrt(1 - a_k) and sqrt(a_k) for Tweedie's x0, beta_k / sqrt(1 - a_k)
    and sqrt(alpha_k) for the ancestral mean, and the ancestral standard deviation
    sqrt(beta_k (1 - a_{k-1}) / (1 - a_k)), 0 at k = 0. Here a_k is the cumulative product.
    """
    betas, alphas, alpha_bars = linear_alpha_bars(count)
    previous = np.concatenate([[1.0], alpha_bars[:-1]])
    table = {
        "noise_scale": np.sqrt(1 - alpha_bars),
        "signal": np.sqrt(alpha_bars),
        "noise_factor": betas / np.sqrt(1 - alpha_bars),
        "mean_divisor": np.sqrt(alphas),
        "standard_deviation": np.sqrt(betas * (1 - previous) / (1 - alpha_bars)),
    }
    table["standard_deviation"][0] = 0
    return {name: jnp.asarray(values, jnp.float32) for name, values in table.items()}


def dps_update(prior, x, y, mask, coefficients, k, scale, ancestral_noise):
    """Take one DPS step from x at DDPM index k, as torch_posterior_steps.dps_update.

    Tweedie's x0 is (x - sqrt(1 - a_k) eps) / sqrt(a_k), and the guidance gradient is that
    of sum over samples of ||y - mask x0|| with respect to x, through the U-Net.
    """
    c = {name: values[k] for name, values in coefficients.items()}
    t = jnp.full((x.shape[0],), k, jnp.float32)

    def residual_norms(state):
        noise = jax_unet.unet(prior, PRIOR, state, t)
        tweedie = (state - c["noise_scale"] * noise) / c["signal"]
        residual = y - mask * tweedie
        norms = jnp.sqrt(jnp.sum(jnp.square(residual), axis=(1, 2, 3)) + FLOAT32_TINY)
        return norms.sum(), noise

    gradient, noise = jax.grad(residual_norms, has_aux=True)(x)

    following = (x - noise * c["noise_factor"]) / c["mean_divisor"] + ancestral_noise * c["standard_deviation"]
    return following - gradient * scale


@partial(jax.jit, static_argnames=("scale",))
def dps_step(prior, x, y, mask, coefficients, k, key, scale):
    """Draw the ancestral noise from `key`, take the DPS step at index k and return x and the next key."""
    key, subkey = jax.random.split(key)
    ancestral_noise = jax.random.normal(subkey, x.shape, jnp.float32)
    return dps_update(prior, x, y, mask, coefficients, k, scale, ancestral_noise), key


def dps_sample(prior, initial, y, mask, coefficients, key, scale):
    """Run the DPS steps from index count - 1 down to 0, as torch_posterior_steps' sample().

    A Python loop calls the jitted step, with k traced so that it compiles once. The same
    steps inside one jitted `lax.fori_loop` ran about ten times slower, 1026 against 100 ms
    per step, with jax 0.10.2 on a loaded 2-core x86 machine.
    """
    x = initial
    for k in reversed(range(coefficients["signal"].shape[0])):
        x, key = dps_step(prior, x, y, mask, coefficients, jnp.int32(k), key, scale)
    return x


def dps_step_seconds(warmup, steps, schedule_steps, batch=8):
    prior_key, x0_key, observation_key, initial_key, sample_key = jax.random.split(jax.random.PRNGKey(0), 5)
    prior = jax_unet.initial_parameters(PRIOR, prior_key)
    coefficients = dps_coefficients(schedule_steps)
    mask = inpainting_mask()
    shape = (batch, SIDE, SIDE, 1)
    x0 = jax.random.uniform(x0_key, shape, jnp.float32, -1, 1)
    y = mask * (x0 + NOISE_STANDARD_DEVIATION * jax.random.normal(observation_key, shape, jnp.float32))
    initial = jax.random.normal(initial_key, shape, jnp.float32)

    def sample():
        jax.block_until_ready(dps_sample(prior, initial, y, mask, coefficients, sample_key, DPS_SCALE))

    return time_steps(sample, warmup, steps) / schedule_steps


def h_network_shapes():
    """Return the h-network's {name: (shape, fan_in)}, named as ImageHTransformNetwork's state_dict in torch_posterior_steps."""
    shapes = {f"correction.{name}": entry for name, entry in jax_unet.parameter_shapes(CORRECTION).items()}
    width = GUIDANCE_EMBEDDING
    shapes["guidance_scale.0.weight"] = ((width, width), width)
    shapes["guidance_scale.0.bias"] = ((width,), width)
    shapes["guidance_scale.2.weight"] = ((width, 1), width)
    shapes["guidance_scale.2.bias"] = ((1,), width)
    return shapes


def h_network(parameters, state, tweedie, gradient, features, t, coefficients):
    """Apply the h-network: NN1 (a U-Net on x_t, x0, g and the features) plus exp(NN2(t)) c_t g."""
    correction = {name[len("correction."):]: value for name, value in parameters.items() if name.startswith("correction.")}
    learned = jax_unet.unet(correction, CORRECTION, jnp.concatenate([state, tweedie, gradient, features], axis=3), t)
    embedding = jax_unet.sinusoidal_embedding(t, GUIDANCE_EMBEDDING)
    hidden = jax.nn.silu(jax_unet.linear(parameters, "guidance_scale.0", embedding))
    scale = jnp.exp(jax_unet.linear(parameters, "guidance_scale.2", hidden))[:, None, None, :]
    return learned + scale * (gradient * coefficients)


def deft_tables():
    """Return sqrt(a_k) and sqrt(1 - a_k) of the 1000-step linear schedule, computed in float64 as torch does."""
    _, _, alpha_bars = linear_alpha_bars(1000)
    return {
        "signal": jnp.asarray(np.sqrt(alpha_bars), jnp.float32),
        "noise_scale": jnp.asarray(np.sqrt(1 - alpha_bars), jnp.float32),
    }


def deft_loss(parameters, prior, tables, mask, x0, observation_noise, times, noise):
    """Compute the DEFT loss of the h-network on clean images x0 at DDPM indices `times`, as torch_posterior_steps.deft_loss."""
    batch = x0.shape[0]
    y = mask * (x0 + NOISE_STANDARD_DEVIATION * observation_noise)
    features = jnp.concatenate([y, jnp.broadcast_to(mask, y.shape)], axis=3)
    signal = tables["signal"][times][:, None, None, None]
    noise_scale = tables["noise_scale"][times][:, None, None, None]
    state = x0 * signal + noise * noise_scale
    t = times.astype(jnp.float32)

    # The prior's eps, Tweedie's x0 clamped to [-1, 1], g = m (y - m x0) / sigma^2 and
    # c_t = -sqrt(1 - a_t) / sqrt(a_t) carry no gradient, as under torch.no_grad().
    prior_noise = jax.lax.stop_gradient(jax_unet.unet(prior, PRIOR, state, t))
    tweedie = jnp.clip((state - prior_noise * noise_scale) / signal, -1, 1)
    gradient = mask * (y - mask * tweedie) / NOISE_STANDARD_DEVIATION**2
    coefficients = -noise_scale / signal

    h = h_network(parameters, state, tweedie, gradient, features, t, coefficients)
    return jnp.sum(jnp.square(h + prior_noise - noise)) / batch


@partial(jax.jit, static_argnames=("batch",), donate_argnums=(0, 1, 2))
def deft_step(parameters, optimizer, average, key, prior, tables, mask, clean, batch):
    """Draw a batch, then take one clipped Adam step on the DEFT loss and update the moving average."""
    index_key, observation_key, time_key, noise_key = jax.random.split(key, 4)
    x0 = clean[jax.random.randint(index_key, (batch,), 0, clean.shape[0])]
    observation_noise = jax.random.normal(observation_key, x0.shape, jnp.float32)
    times = jax.random.randint(time_key, (batch,), 0, 1000)
    noise = jax.random.normal(noise_key, x0.shape, jnp.float32)

    gradients = jax.grad(deft_loss)(parameters, prior, tables, mask, x0, observation_noise, times, noise)
    gradients = clip_gradient_norm(gradients, 1.0)
    parameters, optimizer = adam_update(parameters, gradients, optimizer, learning_rate=1e-3)
    average = moving_average_update(average, parameters, 0.995)
    return parameters, optimizer, average


def deft_step_seconds(warmup, steps, batch=16, images=64):
    prior_key, network_key, clean_key, step_key = jax.random.split(jax.random.PRNGKey(0), 4)
    prior = jax_unet.initial_parameters(PRIOR, prior_key)
    parameters = jax_unet.draw_parameters(h_network_shapes(), network_key)
    parameter_count = jax_unet.parameter_count(parameters)
    optimizer = adam_state(parameters)
    average = jax.tree.map(jnp.copy, parameters)
    tables = deft_tables()
    mask = inpainting_mask()
    clean = jax.random.uniform(clean_key, (images, SIDE, SIDE, 1), jnp.float32, -1, 1)

    def step():
        nonlocal parameters, optimizer, average, step_key
        step_key, key = jax.random.split(step_key)
        parameters, optimizer, average = deft_step(parameters, optimizer, average, key, prior, tables, mask, clean, batch)
        jax.block_until_ready((parameters, optimizer, average))

    return time_steps(step, warmup, steps), parameter_count


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=int, default=2, help="untimed DEFT steps before timing, the first of which compiles (DPS warms up with one sample)")
    parser.add_argument("--steps", type=int, default=20, help="timed calls of each workload")
    parser.add_argument("--dps-schedule-steps", type=int, default=10, help="DDPM steps of each timed DPS sample")
    parser.add_argument("--only", choices=["dps", "deft"], help="time only this workload (default: both)")
    args = parser.parse_args()

    figures = {"jax_version": jax.__version__, "backend": jax.default_backend()}
    if args.only in (None, "dps"):
        figures["dps_step"] = dps_step_seconds(1, args.steps, args.dps_schedule_steps)
    if args.only in (None, "deft"):
        figures["deft_step"], figures["deft_h_network_parameters"] = deft_step_seconds(args.warmup, args.steps)
    else:
        figures["deft_h_network_parameters"] = jax_unet.parameter_count(
            jax_unet.draw_parameters(h_network_shapes(), jax.random.PRNGKey(0)))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
