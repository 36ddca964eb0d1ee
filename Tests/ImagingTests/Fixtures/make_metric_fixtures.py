"""Writes the image pairs and scikit-image's PSNR and SSIM on them, for ImageQualityTests.

Run from this folder with the peer virtual environment (numpy, scipy, scikit-image):
    /work/main/.peers/venv/bin/python make_metric_fixtures.py
Outputs metric_pairs_28x28.npy and metric_pairs_20x33.npy (float64, [pairs, 2, H, W],
reference then test, values in [0, 1]) and metric_expected.json.
"""

import json

import numpy as np
import scipy
import skimage
from scipy.ndimage import gaussian_filter
from skimage.metrics import peak_signal_noise_ratio, structural_similarity


def smooth_field(rng, shape, sigma):
    field = gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    field -= field.min()
    return field / field.max()


def make_pairs(rng, shape):
    reference = smooth_field(rng, shape, 2.0)
    reference[shape[0] // 4 : shape[0] // 2, shape[1] // 3 :] = 0.9  # a sharp-edged block
    noisy = np.clip(reference + 0.1 * rng.standard_normal(shape), 0, 1)
    blurred = gaussian_filter(reference, 1.2, mode="reflect")
    darker = np.clip(0.7 * np.roll(reference, (1, -2), axis=(0, 1)) + 0.1, 0, 1)
    unrelated = smooth_field(rng, shape, 3.0)
    tests = [noisy, blurred, darker, unrelated]
    return np.stack([np.stack([reference, test]) for test in tests])


def main():
    rng = np.random.default_rng(20261204)
    cases = []
    for shape in [(28, 28), (20, 33)]:
        pairs = make_pairs(rng, shape)
        name = f"metric_pairs_{shape[0]}x{shape[1]}.npy"
        np.save(name, pairs)
        for index, (reference, test) in enumerate(pairs):
            cases.append({
                "file": name,
                "index": index,
                "psnr": peak_signal_noise_ratio(reference, test, data_range=1.0),
                "ssim": structural_similarity(
                    reference, test, data_range=1.0, gaussian_weights=True, sigma=1.5,
                    use_sample_covariance=False, K1=0.01, K2=0.03),
            })
    expected = {
        "generator": "make_metric_fixtures.py",
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "scikit-image": skimage.__version__},
        "ssim_settings": "gaussian_weights=True, sigma=1.5, use_sample_covariance=False, K1=0.01, K2=0.03, data_range=1",
        "cases": cases,
    }
    with open("metric_expected.json", "w") as file:
        json.dump(expected, file, indent=1)
        file.write("\n")


if __name__ == "__main__":
    main()
