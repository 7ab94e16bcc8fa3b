"""Writes the CIFAR-10N CPU protocol's feature cache (nlx.benchmarks.protocols).

  python experiments/protocols.py --cifar10_dir=DIR --label_file=FILE --out=CACHE_DIR

writes CACHE_DIR/features.npz (about 5 minutes on the 2-core CPU); without --cifar10_dir,
from ../shared/data.
"""

import argparse
import sys
import tempfile

from nlx.benchmarks import protocols
from nlx.errors import NlxError


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--cifar10_dir", default="")
  p.add_argument("--label_file", default="")
  p.add_argument("--out", default="workdirs/cifar10n_cpu_features")
  a = p.parse_args()
  try:
    d, f = ((a.cifar10_dir, a.label_file) if a.cifar10_dir
            else protocols.shared_cifar10(tempfile.mkdtemp()))
    print(protocols.build_cpu_features(d, f, a.out))
  except NlxError as e:
    sys.exit(f"protocols: {e}")


if __name__ == "__main__":
  main()
