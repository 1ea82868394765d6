#!/usr/bin/env python3
"""Proves that ranklens and SAELens read each other's sparse-autoencoder directories, both ways,
for the three architectures ranklens writes (topk, batchtopk, jumprelu), and writes the fixtures
that tests/io/test_saelens_files.cpp checks without Python.

  ranklens -> SAELens   examples/sae_files writes a random SparseAutoencoder<4, 16, 64> (untied
                        weights, biases, an input scale folded into the file); SAELens loads the
                        directory (SAE.load_from_disk; TrainingSAE.load_from_disk for batchtopk,
                        which SAELens registers only as a training class) and encodes and decodes
                        8 random tokens; ranklens does the same; the outputs are compared.
  SAELens -> ranklens   SAELens builds TopKSAE, BatchTopKTrainingSAE (with its default
                        rescale_acts_by_decoder_norm=True) and JumpReLUSAE (a different threshold
                        per latent), randomises every parameter, saves them with save_model;
                        ranklens loads each directory and runs the same tokens; compared again.

The codes compared are SAELens' feature_acts (dense, tokens x 64) and the reconstructions
sae_out (tokens x 16); the largest absolute difference of each is printed. The run fails when
one exceeds 1e-5 (both sides compute in float32).

Fixtures, under tests/io/fixtures/saelens/:
  inputs.safetensors                 x (8, 16)
  ranklens_<arch>/                   the directory ranklens wrote
  ranklens_<arch>.expected.safetensors   feature_acts and sae_out as SAELens computed them from it
  saelens_<arch>/                    the directory SAELens wrote
  saelens_<arch>.expected.safetensors    SAELens' own outputs

Usage, from the repository root (sae-lens and torch in the interpreter, e.g. .venv):

    .venv/bin/python tools/saelens_roundtrip.py [--program build-quick/sae_files] [--no-fixtures]

Without --program, the script compiles examples/sae_files/main.cpp with g++ into build-quick/.
"""
import argparse
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURE_DIR = REPO_ROOT / "tests" / "io" / "fixtures" / "saelens"
D_IN, D_SAE, K, TOKENS = 16, 64, 4, 8
TOLERANCE = 1e-5
ARCHITECTURES = ("topk", "batchtopk", "jumprelu")


def build_program():
    program = REPO_ROOT / "build-quick" / "sae_files"
    program.parent.mkdir(exist_ok=True)
    print(f"compiling {program.relative_to(REPO_ROOT)}", file=sys.stderr)
    subprocess.check_call(["g++", "-std=c++20", "-O2", "-march=native", "-I", str(REPO_ROOT / "include"),
                           str(REPO_ROOT / "examples" / "sae_files" / "main.cpp"), "-o", str(program), "-lopenblas", "-pthread"])
    return program


def saelens_load(directory, architecture):
    from sae_lens import SAE, TrainingSAE

    loader = TrainingSAE if architecture == "batchtopk" else SAE
    return loader.load_from_disk(str(directory), device="cpu")


def saelens_outputs(sae, x):
    import torch

    with torch.no_grad():
        feature_acts = sae.encode(x)
        return {"feature_acts": feature_acts.contiguous(), "sae_out": sae.decode(feature_acts).contiguous()}


def saelens_written(architecture, directory):
    """A SAELens SAE of the given architecture with every parameter random, saved by save_model."""
    import torch
    from sae_lens import (BatchTopKTrainingSAE, BatchTopKTrainingSAEConfig, JumpReLUSAE, JumpReLUSAEConfig, TopKSAE,
                          TopKSAEConfig)

    torch.manual_seed({"topk": 1, "batchtopk": 2, "jumprelu": 3}[architecture])
    metadata = {"hook_name": "blocks.0.hook_resid_post"}
    if architecture == "topk":
        sae = TopKSAE(TopKSAEConfig(d_in=D_IN, d_sae=D_SAE, k=K))
    elif architecture == "batchtopk":
        sae = BatchTopKTrainingSAE(BatchTopKTrainingSAEConfig(d_in=D_IN, d_sae=D_SAE, k=K))  # rescale_acts_by_decoder_norm=True
    else:
        sae = JumpReLUSAE(JumpReLUSAEConfig(d_in=D_IN, d_sae=D_SAE))
    for key, value in metadata.items():
        sae.cfg.metadata[key] = value
    with torch.no_grad():
        sae.W_enc.copy_(0.4 * torch.randn(D_IN, D_SAE))
        sae.W_dec.copy_(0.4 * torch.randn(D_SAE, D_IN))
        sae.b_enc.copy_(0.1 * torch.randn(D_SAE))
        sae.b_dec.copy_(0.5 * torch.randn(D_IN))
        if architecture == "batchtopk":
            sae.topk_threshold = torch.tensor(0.25, dtype=torch.double)
        if architecture == "jumprelu":
            sae.threshold.copy_(0.4 * torch.rand(D_SAE))
    sae.save_model(str(directory))
    return sae


def run_ranklens(program, directory, inputs, out):
    subprocess.check_call([str(program), "run", "--sae", str(directory), "--inputs", str(inputs), "--out", str(out)],
                          stdout=subprocess.DEVNULL)
    from safetensors.torch import load_file

    return load_file(str(out))


def max_errors(ours, theirs):
    return {name: float((ours[name].double() - theirs[name].double()).abs().max()) for name in ("feature_acts", "sae_out")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--program", type=pathlib.Path, help="the compiled examples/sae_files (default: compile it)")
    parser.add_argument("--no-fixtures", action="store_true", help="compare only; leave tests/io/fixtures/saelens alone")
    args = parser.parse_args()
    try:
        import sae_lens
        import torch
        from safetensors.torch import save_file
    except ImportError as error:
        sys.exit(f"saelens_roundtrip: {error}; install sae-lens (pip install sae-lens) into the interpreter, e.g. .venv")
    program = args.program or build_program()

    torch.manual_seed(0)
    x = torch.randn(TOKENS, D_IN)
    results = []
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = pathlib.Path(scratch_name)
        inputs = scratch / "inputs.safetensors"
        save_file({"x": x}, str(inputs))
        fixtures = {}
        for architecture in ARCHITECTURES:
            # ranklens -> SAELens
            ours_dir = scratch / f"ranklens_{architecture}"
            subprocess.check_call([str(program), "random", "--out", str(ours_dir), "--architecture", architecture, "--seed", "7"])
            theirs = saelens_outputs(saelens_load(ours_dir, architecture), x)
            ours = run_ranklens(program, ours_dir, inputs, scratch / "out.safetensors")
            results.append(("ranklens -> SAELens", architecture, type(saelens_load(ours_dir, architecture)).__name__, max_errors(ours, theirs)))
            fixtures[f"ranklens_{architecture}"] = (ours_dir, theirs)
            # SAELens -> ranklens
            their_dir = scratch / f"saelens_{architecture}"
            sae = saelens_written(architecture, their_dir)
            theirs = saelens_outputs(sae, x)
            ours = run_ranklens(program, their_dir, inputs, scratch / "out.safetensors")
            results.append(("SAELens -> ranklens", architecture, type(sae).__name__, max_errors(ours, theirs)))
            fixtures[f"saelens_{architecture}"] = (their_dir, theirs)

        print(f"sae_lens {sae_lens.__version__}, torch {torch.__version__}; {TOKENS} tokens, d_in {D_IN}, d_sae {D_SAE}, k {K}")
        print(f"{'direction':22} {'architecture':12} {'SAELens class':22} {'max |feature_acts| err':>24} {'max |sae_out| err':>18}")
        worst = 0.0
        for direction, architecture, cls, errors in results:
            print(f"{direction:22} {architecture:12} {cls:22} {errors['feature_acts']:24.3e} {errors['sae_out']:18.3e}")
            worst = max(worst, *errors.values())

        if not args.no_fixtures:
            if FIXTURE_DIR.exists():
                shutil.rmtree(FIXTURE_DIR)
            FIXTURE_DIR.mkdir(parents=True)
            shutil.copy(inputs, FIXTURE_DIR / "inputs.safetensors")
            for name, (directory, outputs) in fixtures.items():
                shutil.copytree(directory, FIXTURE_DIR / name)
                save_file(outputs, str(FIXTURE_DIR / f"{name}.expected.safetensors"))
            (FIXTURE_DIR / "versions.json").write_text(
                json.dumps({"sae_lens": sae_lens.__version__, "torch": torch.__version__}, indent=2) + "\n")
            print(f"wrote {FIXTURE_DIR.relative_to(REPO_ROOT)}")
    if worst > TOLERANCE:
        sys.exit(f"saelens_roundtrip: the largest difference, {worst:.3e}, exceeds {TOLERANCE:g}")


if __name__ == "__main__":
    main()
