import json
import os
import subprocess
import sys

from conftest import CONFIGS, REPO


def run_main(*args, cwd):
  env = {**os.environ, "XLA_FLAGS": "", "PYTHONPATH": REPO}
  return subprocess.run([sys.executable, "-m", "nlx.main", *args], cwd=cwd, env=env,
                        capture_output=True, text=True, timeout=300, check=False)


def test_main_runs_a_config_and_prints_the_table(tmp_path):
  r = run_main(f"--config={CONFIGS}/quickstart.py:tiny", f"--workdir={tmp_path}/wd", cwd=tmp_path)
  assert r.returncode == 0, r.stderr
  assert "| digits | ce | small_cnn | 39.8% |" in r.stdout
  with open(tmp_path / "wd" / "results.json") as f:
    assert json.load(f)["status"] == "finished"


def test_config_override_and_typo(tmp_path):
  r = run_main(f"--config={CONFIGS}/quickstart.py:tiny", "--config.data.nmae=x",
               f"--workdir={tmp_path}/wd", cwd=tmp_path)
  assert r.returncode != 0 and "nmae" in r.stderr


def test_missing_data_gives_one_line_error(tmp_path):
  r = run_main(f"--config={CONFIGS}/ce_cifar10.py:tiny", f"--config.data.data_dir={tmp_path}/none",
               f"--workdir={tmp_path}/wd", cwd=tmp_path)
  assert r.returncode == 1
  assert r.stderr.strip().splitlines()[-1].startswith("nlx: error: cifar10:")
  assert "Traceback" not in r.stderr
