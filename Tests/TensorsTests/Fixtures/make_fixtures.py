"""Write the Python-made weight files that WeightFileTests reads.

Run from the repository root with the peer environment (scripts/python-env):

    .peers/venv/bin/python Tests/TensorsTests/Fixtures/make_fixtures.py

Every regular tensor with n elements contains ramp(n)[i] = i / 7 - 1, computed in the
tensor's own dtype (a correctly rounded division, then a correctly rounded subtraction),
so that Swift recomputes the same bits with `Float(i) / 7 - 1` or `Double(i) / 7 - 1`.
The `special_*` tensors contain the IEEE special values listed in SPECIAL.
"""

from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

HERE = Path(__file__).resolve().parent

# Zeros of both signs, infinities, a quiet NaN, the smallest subnormal, the largest
# finite value and 1/3 (rounded in each dtype).
SPECIAL = ["0.0", "-0.0", "inf", "-inf", "nan", "min_subnormal", "max", "1/3"]


def ramp(shape, dtype, order="C"):
    count = int(np.prod(shape, dtype=np.int64))
    values = np.arange(count, dtype=dtype) / dtype(7) - dtype(1)
    assert values.dtype == dtype
    return np.asarray(values.reshape(shape), order=order)


def special(dtype):
    info = np.finfo(dtype)
    values = [0.0, -0.0, np.inf, -np.inf, np.nan, info.smallest_subnormal, info.max, dtype(1) / dtype(3)]
    return np.array(values, dtype=dtype)


def main():
    tensors = {
        "scalar_f32": np.array(-2.5, dtype=np.float32),
        "scalar_f64": np.array(np.pi, dtype=np.float64),
        "vector_f64": ramp((5,), np.float64),
        "matrix_f32": ramp((2, 3), np.float32),
        "matrix_f64": ramp((3, 2), np.float64),
        "tensor_f32": ramp((2, 3, 4), np.float32),
        "empty_f32": np.zeros((0, 3), dtype=np.float32),
        "special_f32": special(np.float32),
        "special_f64": special(np.float64),
    }
    metadata = {"format": "np", "producer": "make_fixtures.py"}
    save_file(tensors, str(HERE / "python-written.safetensors"), metadata=metadata)

    np.save(HERE / "python-written-f32.npy", ramp((3, 4), np.float32))
    np.save(HERE / "python-written-f64-fortran.npy", ramp((2, 3, 4), np.float64, order="F"))
    np.save(HERE / "python-written-f64-big-endian.npy", ramp((4, 2), np.float64).astype(">f8"))
    np.save(HERE / "python-written-scalar-f32.npy", np.array(0.375, dtype=np.float32))


if __name__ == "__main__":
    main()
