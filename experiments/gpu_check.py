"""One command for an accelerator: nlx's train-step speed beside PyTorch's, then the full
CIFAR-10N protocol (worst labels, ResNet-34, 100 epochs: CE, then ARNet, then ELR).

Prepare, on the CPU machine, once (everything lands in ignored folders of the repo, which
is all that travels to the GPU machine: about 62 MiB with these):
  python experiments/gpu_check.py --prepare      # ../shared/data -> .data/ (58 MB)
  pip download --no-deps --only-binary=:all: --python-version 3.12 \\
      --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 -d .whl \\
      grain==0.2.18 ml-collections==1.1.0 array-record==0.8.6 cloudpickle portpicker
  # (what the GPU image lacks, 4.6 MB: it has jax 0.11 + CUDA, flax, optax, orbax, torch)
Run, on the GPU machine (under 10 minutes on one H200; --budget_s bounds the whole run):
  pip install -q --no-deps .whl/*.whl && python experiments/gpu_check.py --out="$OUT"
  (where nlx is not installed: `python -m nlx.benchmarks.gpu_check --out="$OUT"` from the
  repo root, the same program)
Check on the CPU first (the test suite runs this; a few steps of every part):
  python experiments/gpu_check.py --tiny --out=workdirs/gpu_check

What it measures, and how the data are read (the pack written out once in the official
layout under --workroot, then nlx's own CIFAR-10N loader): nlx.benchmarks.gpu_check.
"""

from nlx.benchmarks import gpu_check

if __name__ == "__main__":
  gpu_check.main()
