#!/usr/bin/env python3
"""Writes the safetensors files that tests/io compares ranklens against.

The files are committed, so the C++ tests need no Python; rerun this only to change them:

    python3 -m venv /tmp/st-venv && /tmp/st-venv/bin/pip install safetensors==0.8.0 numpy
    /tmp/st-venv/bin/python tools/make_safetensors_fixtures.py

Every file is written by the Python safetensors package itself, so its bytes are the
reference layout. Each holds at most one metadata key, because the package keeps metadata in
a Rust HashMap and writes two or more keys in an order that changes from run to run.
tests/io/test_safetensors_fixtures.cpp rebuilds the same tensors with ranklens' writer and
requires identical bytes, so a change here needs the matching change there.
"""
import pathlib
import struct
import sys

import numpy as np
import safetensors
from safetensors import TensorSpec, serialize_file
from safetensors.numpy import save_file

REFERENCE_VERSION = "0.8.0"


def all_dtypes(path):
    """One tensor per numpy dtype that ranklens has, plus a scalar and an empty tensor."""
    tensors = {
        "f64": np.array([[0.5, -1.25], [1e300, -0.0]], dtype=np.float64),
        "f32": np.array([1.5, -2.0, 0.1], dtype=np.float32),
        # 65504 is the largest half, 2**-24 the smallest subnormal.
        "f16": np.array([[0.0, 1.0, -2.0], [65504.0, 2.0**-24, np.inf]], dtype=np.float16),
        "i64": np.array([-(2**62), 2**40], dtype=np.int64),
        "i32": np.array([[-7, 0], [2**31 - 1, -(2**31)]], dtype=np.int32),
        "i16": np.array([-300, 0, 300], dtype=np.int16),
        "i8": np.array([-128, -1, 0, 127], dtype=np.int8),
        "u8": np.array([0, 128, 255], dtype=np.uint8),
        "bool": np.array([True, False], dtype=np.bool_),
        "scalar": np.array(42.0, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }
    save_file(tensors, path, metadata={"format": "np"})


def float32_to_bf16_bits(values):
    """Round to nearest even on the bits, written independently of the C++ code under test."""
    bits = values.view(np.uint32).astype(np.uint64)
    result = []
    for b in bits.tolist():
        if (b & 0x7FFFFFFF) > 0x7F800000:  # NaN: truncate, keep it quiet
            result.append((b >> 16) | 0x0040)
            continue
        upper, lower = b >> 16, b & 0xFFFF
        if lower > 0x8000 or (lower == 0x8000 and (upper & 1)):
            upper += 1
        result.append(upper)
    return np.array(result, dtype=np.uint16)


def half_rounding(path):
    """float32 values next to numpy's float16 of them and a bfloat16 of them.

    The values sit where rounding is hard: exact ties and their neighbours (in the normal and
    subnormal ranges of both formats), the overflow threshold 65520, underflow around 2**-25,
    signed zeros, infinities, NaN, and a spread of random magnitudes.
    """
    f32 = np.float32
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1.0, -1.0, 0.1, 1.0 / 3.0,
                65504.0, 65519.996, 65520.0, 65536.0, 1e9, -1e9,
                2.0**-14, 2.0**-24, 2.0**-25, 2.0**-25 * 1.0000001, 2.0**-26, 1.5 * 2.0**-24,
                2.5 * 2.0**-24, 3.5 * 2.0**-24, 2.0**-14 - 2.0**-25, 1e-45, -1e-45]
    ties = []
    for base in [1.0, 1.0 + 2.0**-10, 2.0**-20 + 2.0**-23, 1000.0, 3.0e38]:
        ties += [base + base * 2.0**-11, base + base * 2.0**-8]  # f16 and bf16 midpoints
    values = np.array(specials + ties, dtype=f32)
    # Exact float32 neighbours of every tie, one ulp either side.
    tie_values = np.array(ties, dtype=f32)
    values = np.concatenate([values, np.nextafter(tie_values, f32(np.inf)),
                             np.nextafter(tie_values, f32(-np.inf))])
    rng = np.random.default_rng(20240611)
    random_values = (rng.standard_normal(48) * 10.0 ** rng.integers(-9, 6, 48)).astype(f32)
    values = np.concatenate([values, random_values]).astype(f32)

    with np.errstate(over="ignore"):
        as_f16 = values.astype(np.float16).view(np.uint16)
    as_bf16 = float32_to_bf16_bits(values)
    keep_alive = [values, as_f16, as_bf16]
    specs = {
        "source": TensorSpec(dtype="float32", shape=list(values.shape),
                             data_ptr=values.ctypes.data, data_len=values.nbytes),
        "as_f16": TensorSpec(dtype="float16", shape=list(as_f16.shape),
                             data_ptr=as_f16.ctypes.data, data_len=as_f16.nbytes),
        "as_bf16": TensorSpec(dtype="bfloat16", shape=list(as_bf16.shape),
                              data_ptr=as_bf16.ctypes.data, data_len=as_bf16.nbytes),
    }
    serialize_file(specs, str(path), metadata=None)
    del keep_alive


def names_and_order(path):
    """Names that need JSON escaping or non-ASCII bytes, and names whose sort order matters."""
    u8 = lambda *v: np.array(v, dtype=np.uint8)
    tensors = {
        'quote"': u8(1),
        "back\\slash": u8(2),
        "new\nline\ttab\rcr\bbs\fff": u8(3),
        "ctrl\x01\x1f": u8(4),
        "del\x7f": u8(5),
        "utf8 \u00e9 \u2603 \U0001F600": u8(6),
        "slash/dot.name": u8(7),
        "": u8(8),
        # bytewise order: "B" < "Z" < "a" < "a.b" < "aa" < "\u00e9"
        "a": np.array([1], dtype=np.int32),
        "aa": np.array([2], dtype=np.int32),
        "a.b": np.array([3], dtype=np.int32),
        "B": np.array([4], dtype=np.int32),
        "Z": np.array([5], dtype=np.int32),
        "\u00e9": np.array([6], dtype=np.int32),
        "h": np.array([1.0], dtype=np.float16),
        "d": np.array([1.0], dtype=np.float64),
        "l": np.array([1], dtype=np.int64),
        "s": np.array([1], dtype=np.int16),
        "b": np.array([1], dtype=np.int8),
        "t": np.array([True], dtype=np.bool_),
    }
    save_file(tensors, path, metadata={"note \u00e9\n": 'tab\there "quoted" \\ \x01 \u2603'})


def no_tensors(path):
    save_file({}, path)


def metadata_only(path):
    save_file({}, path, metadata={"only": "metadata"})


def main():
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else \
        pathlib.Path(__file__).resolve().parent.parent / "tests" / "io" / "fixtures"
    if safetensors.__version__ != REFERENCE_VERSION:
        print(f"warning: safetensors {safetensors.__version__}, fixtures were made with "
              f"{REFERENCE_VERSION}", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    for name, make in [("all_dtypes", all_dtypes), ("half_rounding", half_rounding),
                       ("names_and_order", names_and_order), ("no_tensors", no_tensors),
                       ("metadata_only", metadata_only)]:
        path = out / f"{name}.safetensors"
        make(path)
        path.chmod(0o644)  # the package writes through a 0600 temporary file
        data = path.read_bytes()
        (header_length,) = struct.unpack("<Q", data[:8])
        print(f"{path}: {len(data)} bytes, header {header_length}")


if __name__ == "__main__":
    main()
