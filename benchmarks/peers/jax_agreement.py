"""Check that the JAX peers compute what the PyTorch peers do, before their times are compared.

Each check builds the PyTorch workload with torch.manual_seed(0), copies its weights and
inputs into the JAX code, and compares the results in float32:

- mlp: the loss and gradients of the MLP 2-128-128-128-2 on a batch of 512 (jax_foundation).
- optimizer: three steps of Adam at 1e-3 with clipping at norm 1 and the 0.995 moving
  average (jax_training), fed the same gradients as torch.optim.Adam,
  clip_grad_norm_ and torch._foreach_lerp_.
- unet: the output of the U-Net 32/64/128 on 4 images of 1x28x28 and the gradients of its
  mean-squared error (jax_unet).
- dps: one DPS step of the prior U-Net at batch 2, at the first and the last index of a
  10-step schedule, with the same ancestral noise (jax_posterior_steps.dps_update).
- deft: the DEFT loss and its gradients of the h-network at batch 4 with the same draws
  (jax_posterior_steps.deft_loss).

Prints each check's largest relative difference, max |jax - torch| / max |torch| over
each compared array (each parameter's gradient, say), and exits with status 1 if one is
above its tolerance. The tolerances allow float32 rounding through a network of about 20 layers.
A wrong layer, layout or coefficient gives differences of order 1.

usage: python jax_agreement.py
"""
import sys

import numpy as np
import torch
import torch.nn.functional as F

import jax
import jax.numpy as jnp

import jax_foundation
import jax_posterior_steps
import jax_training
import jax_unet
import torch_posterior_steps
from torch_unet import UNet

OUTPUT_TOLERANCE = 1e-5
GRADIENT_TOLERANCE = 1e-4

failures = []


def nhwc(tensor):
    """Convert an NCHW torch tensor to an NHWC JAX array."""
    return jnp.asarray(tensor.detach().numpy().transpose(0, 2, 3, 1))


def compare(check, name, jax_values, torch_values, tolerance):
    """Print and record the largest relative difference over the arrays of two same-keyed dicts.

    An array's relative difference is max |jax - torch| / max |torch|, so each parameter's
    gradient is measured against its own scale. An array whose torch values are all 0 is
    measured against the largest magnitude of all the arrays instead.
    """
    overall = max(float(np.max(np.abs(value))) for value in torch_values.values())
    relative, worst = 0.0, None
    for key, reference in torch_values.items():
        difference = float(np.max(np.abs(np.asarray(jax_values[key]) - reference)))
        magnitude = float(np.max(np.abs(reference))) or overall
        if difference / magnitude >= relative:
            relative, worst = difference / magnitude, key
    verdict = "ok" if relative <= tolerance else "FAILED"
    print(f"{check:9} {name:30} relative difference {relative:.2e} (tolerance {tolerance:.0e}, at {worst}) {verdict}")
    if relative > tolerance:
        failures.append(f"{check} {name}")


def torch_gradients(module):
    """Collect the gradients of a torch module in jax_unet's layouts, keyed by state_dict name."""
    return {name: np.asarray(value) for name, value in jax_unet.from_torch(
        {name: parameter.grad for name, parameter in module.named_parameters()}).items()}


def check_mlp():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(2, 128), torch.nn.SiLU(),
        torch.nn.Linear(128, 128), torch.nn.SiLU(),
        torch.nn.Linear(128, 128), torch.nn.SiLU(),
        torch.nn.Linear(128, 2),
    )
    x, y = torch.randn(512, 2), torch.randn(512, 2)
    loss = F.mse_loss(model(x), y)
    loss.backward()

    linears = [module for module in model if isinstance(module, torch.nn.Linear)]
    layers = [(jnp.asarray(m.weight.detach().numpy().T), jnp.asarray(m.bias.detach().numpy())) for m in linears]
    jax_loss, jax_gradients = jax.value_and_grad(jax_foundation.mlp_loss)(layers, jnp.asarray(x.numpy()), jnp.asarray(y.numpy()))

    compare("mlp", "loss", {"loss": jax_loss}, {"loss": loss.detach().numpy()}, OUTPUT_TOLERANCE)
    torch_values, jax_values = {}, {}
    for index, (module, (weight, bias)) in enumerate(zip(linears, jax_gradients)):
        torch_values[f"{index}.weight"], jax_values[f"{index}.weight"] = module.weight.grad.numpy().T, weight
        torch_values[f"{index}.bias"], jax_values[f"{index}.bias"] = module.bias.grad.numpy(), bias
    compare("mlp", "gradients", jax_values, torch_values, GRADIENT_TOLERANCE)


def check_optimizer():
    torch.manual_seed(0)
    shapes = {"weight": (16, 8), "bias": (16,)}
    parameters = {name: torch.randn(shape, requires_grad=True) for name, shape in shapes.items()}
    optimizer = torch.optim.Adam(parameters.values(), lr=1e-3)
    average = [p.detach().clone() for p in parameters.values()]

    jax_parameters = {name: jnp.asarray(p.detach().numpy()) for name, p in parameters.items()}
    jax_state = jax_training.adam_state(jax_parameters)
    jax_average = dict(jax_parameters)

    # The first step's gradients have norm above 1, so clipping scales them, and the
    # later ones have norm below 1, so it leaves them.
    for scale in (3.0, 0.1, 0.01):
        gradients = {name: torch.randn(shape) * scale / 10 for name, shape in shapes.items()}
        for name, parameter in parameters.items():
            parameter.grad = gradients[name].clone()
        torch.nn.utils.clip_grad_norm_(list(parameters.values()), 1.0)
        optimizer.step()
        with torch.no_grad():
            torch._foreach_lerp_(average, [p.detach() for p in parameters.values()], 1 - 0.995)

        clipped = jax_training.clip_gradient_norm({name: jnp.asarray(g.numpy()) for name, g in gradients.items()}, 1.0)
        jax_parameters, jax_state = jax_training.adam_update(jax_parameters, clipped, jax_state, learning_rate=1e-3)
        jax_average = jax_training.moving_average_update(jax_average, jax_parameters, 0.995)

    compare("optimizer", "parameters after 3 Adam steps", jax_parameters,
            {name: p.detach().numpy() for name, p in parameters.items()}, OUTPUT_TOLERANCE)
    compare("optimizer", "moving average after 3 steps", jax_average,
            {name: a.numpy() for name, a in zip(shapes, average)}, OUTPUT_TOLERANCE)


def check_unet():
    torch.manual_seed(0)
    model = UNet(in_channels=1, base_channels=32, channel_multipliers=(1, 2, 4))
    x, t, target = torch.randn(4, 1, 28, 28), torch.rand(4) * 1000, torch.randn(4, 1, 28, 28)
    output = model(x, t)
    F.mse_loss(output, target).backward()

    parameters = jax_unet.from_torch(model.state_dict())
    configuration = jax_foundation.UNET_CONFIGURATION
    jax_output = jax_unet.unet(parameters, configuration, nhwc(x), jnp.asarray(t.numpy()))
    gradients = jax.grad(jax_foundation.unet_loss)(parameters, nhwc(x), jnp.asarray(t.numpy()), nhwc(target))

    if jax_unet.parameter_count(parameters) != sum(p.numel() for p in model.parameters()):
        failures.append("unet parameter count")
    compare("unet", "output", {"output": jax_output}, {"output": nhwc(output)}, OUTPUT_TOLERANCE)
    compare("unet", "gradients", gradients, torch_gradients(model), GRADIENT_TOLERANCE)


def check_dps():
    torch.manual_seed(0)
    prior = torch_posterior_steps.prior_unet()
    prior.requires_grad_(False)
    schedule = torch_posterior_steps.linear_alpha_bars(10)
    mask = torch_posterior_steps.inpainting_mask()
    shape = (2, 1, torch_posterior_steps.SIDE, torch_posterior_steps.SIDE)
    x, y, ancestral_noise = torch.randn(shape), mask * (torch.rand(shape) * 2 - 1), torch.randn(shape)

    parameters = jax_unet.from_torch(prior.state_dict())
    coefficients = jax_posterior_steps.dps_coefficients(10)
    for k in (9, 0):
        following = torch_posterior_steps.dps_update(prior, x, y, mask, schedule, k, 0.5, ancestral_noise)
        jax_following = jax_posterior_steps.dps_update(
            parameters, nhwc(x), nhwc(y), nhwc(mask), coefficients, k, 0.5, nhwc(ancestral_noise))
        compare("dps", f"x after the step at k = {k}", {"x": jax_following}, {"x": nhwc(following)}, OUTPUT_TOLERANCE)


def check_deft():
    torch.manual_seed(0)
    prior = torch_posterior_steps.prior_unet()
    prior.requires_grad_(False)
    network = torch_posterior_steps.ImageHTransformNetwork()
    _, _, alpha_bars = torch_posterior_steps.linear_alpha_bars(1000)
    mask = torch_posterior_steps.inpainting_mask()
    shape = (4, 1, torch_posterior_steps.SIDE, torch_posterior_steps.SIDE)
    x0, observation_noise, noise = torch.rand(shape) * 2 - 1, torch.randn(shape), torch.randn(shape)
    times = torch.tensor([0, 1, 500, 999])
    loss = torch_posterior_steps.deft_loss(network, prior, alpha_bars, mask, x0, observation_noise, times, noise)
    loss.backward()

    parameters = jax_unet.from_torch(network.state_dict())
    if set(parameters) != set(jax_posterior_steps.h_network_shapes()):
        failures.append("deft h-network parameter names")
    jax_loss, gradients = jax.value_and_grad(jax_posterior_steps.deft_loss)(
        parameters, jax_unet.from_torch(prior.state_dict()), jax_posterior_steps.deft_tables(), nhwc(mask), nhwc(x0),
        nhwc(observation_noise), jnp.asarray(times.numpy()), nhwc(noise))

    compare("deft", "loss", {"loss": jax_loss}, {"loss": loss.detach().numpy()}, OUTPUT_TOLERANCE)
    compare("deft", "gradients", gradients, torch_gradients(network), GRADIENT_TOLERANCE)


def main():
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, jax {jax.__version__} on {jax.default_backend()}")
    for check in (check_mlp, check_optimizer, check_unet, check_dps, check_deft):
        check()
    if failures:
        sys.exit(f"jax_agreement: JAX and PyTorch disagree beyond tolerance on: {', '.join(failures)}")
    print("jax_agreement: every check is within tolerance")


if __name__ == "__main__":
    main()
