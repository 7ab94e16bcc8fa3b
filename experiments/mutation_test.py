r"""Mutation testing: does the fast test suite notice a one-line bug in nlx's core modules?

Makes the mutants with cosmic-ray (a maintained mutation tester) in a scratch copy of a
commit (`--rev`, default HEAD: `git archive`, so edits under way in the working tree,
which is never modified, play no part), runs each against the fast tests in a
child forked from one process that imported jax once (`--executor=cosmic-ray`: its own
`exec`, a fresh interpreter per mutant, slower by the start-up; mutmut 3 forks after JAX
has started and stalled here after 13 of the 109 mutants of `nlx/collapse.py`), and
writes one markdown table: mutants per module, killed, survived, timed out, the score,
and every survivor as a one-line diff.

A mutant is one of the one-line bugs a reviewer would try (the operators in OPERATORS):
a comparison's boundary flipped (`<` <-> `<=`, `>` <-> `>=`) or negated (`==` <-> `!=`,
`is`, `in`), `+` <-> `-`, `*` <-> `/`, `**` -> `*`, a number moved by one, `True` <->
`False`, `and` <-> `or`, a unary minus or `not` dropped, a loop that never runs, `break`
-> `continue`. Strings (error messages) are never mutated.

Each mutant runs the fast tests (`-m "not slow"`, stop at the first failure) of the test
files that import the module, else of those that import its package (TESTS overrides
both). That is a subset of the fast suite, so a score is a lower bound of the whole
suite's.

  pip install -e ".[dev]"        # brings cosmic-ray
  python experiments/mutation_test.py --modules=nlx/collapse.py,nlx/data/listing.py \
      --out=experiments/results/mutation.md
  python experiments/mutation_test.py --modules=core   # every module of CORE

Sessions are kept in --workroot (default workdirs/mutation): a rerun continues the
mutants not yet run (a module whose text changed starts over); --recheck runs the
survivors again against the tests as they are now; --fresh starts over. --sample=N runs
at most N mutants per module, drawn at random (seeded by the module's path) from those not
yet run; the table then says how many of the module's mutants ran, and its score is an
estimate of the whole module's. The tests use the persistent JAX compilation
cache of tests/conftest.py, so run the fast suite once first.
"""

import argparse
import concurrent.futures
import datetime
import glob
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CORE = ("nlx/losses", "nlx/ops", "nlx/methods", "nlx/models", "nlx/checkpointing.py",
        "nlx/workdir.py", "nlx/dynamics.py", "nlx/collapse.py", "nlx/label_issues.py",
        "nlx/label_issue_scores.py",
        "nlx/data/listing.py", "nlx/data/on_device.py")

# cosmic-ray operator names kept (regular expressions, matched in full).
OPERATORS = (
    r"core/ReplaceComparisonOperator_(Lt_LtE|LtE_Lt|Gt_GtE|GtE_Gt|Eq_NotEq|NotEq_Eq"
    r"|Is_IsNot|IsNot_Is|In_NotIn|NotIn_In)",
    r"core/ReplaceBinaryOperator_(Add_Sub|Sub_Add|Mul_Div|Div_Mul|Pow_Mul|FloorDiv_Mul)",
    r"core/ReplaceUnaryOperator_(Delete_USub|Delete_Not)",
    r"core/NumberReplacer",
    r"core/(ReplaceTrueWithFalse|ReplaceFalseWithTrue|ReplaceAndWithOr|ReplaceOrWithAnd)",
    r"core/(ZeroIterationForLoop|ReplaceBreakWithContinue)",
)

# Test files for a module that no test file imports by name (reached through another).
TESTS = {
    "nlx/losses/regularizers.py": ["tests/losses", "tests/methods/test_methods.py"],
}


def module_files(names):
  """The .py files of `names` (files or packages; `core` for CORE), `__init__` included."""
  files = []
  for name in names:
    if name == "core":
      files += module_files(CORE)
    elif name.endswith(".py"):
      files.append(name)
    else:
      files += sorted(os.path.relpath(p, REPO)
                      for p in glob.glob(os.path.join(REPO, name, "*.py")))
  return list(dict.fromkeys(files))


def dotted(path):
  return path[:-3].replace("/", ".").removesuffix(".__init__")


def tests_for(path):
  """The test files that import `path`'s module (by its dotted name, or `from PKG import
  NAME`), else those that import its package, or TESTS[path]."""
  if path in TESTS:
    return TESTS[path]
  module = dotted(path)
  found = importers(module)
  package = module.rpartition(".")[0]
  stem = module.rpartition(".")[2]
  folder = os.path.join("tests", *module.split(".")[1:-1])
  if package != "nlx":  # also the package's own tests that reach it through the package's
    # names (`models.create("cifar10_quick")` tests nlx/models/cnn.py); else those anywhere
    local = [t for t in importers(package) if t.startswith(folder + os.sep)]
    found += [t for t in (local or ([] if found else importers(package))) if t not in found]
  # The module's own test file first, then its package's tests, then the rest: with -x a
  # killed mutant stops at the first failure, which is most often in its own file.
  return sorted(found, key=lambda t: (os.path.basename(t) != f"test_{stem}.py",
                                      os.path.dirname(t) != folder, t))


def importers(module):
  """The test files that name `module` (dotted) or import it from its package."""
  package, _, name = module.rpartition(".")
  pattern = re.compile(rf"\b{re.escape(module)}\b"
                       rf"|from {re.escape(package)} import [^\n]*\b{name}\b")
  found = []
  for test in sorted(glob.glob(os.path.join(REPO, "tests", "**", "test_*.py"), recursive=True)):
    with open(test) as f:
      if pattern.search(f.read()):
        found.append(os.path.relpath(test, REPO))
  return found


def write_config(path, module, tests, timeout):
  test_command = (f"{sys.executable} -m pytest -q -x -n 0 -m 'not slow' -p no:cacheprovider "
                  + " ".join(tests))
  with open(path, "w") as f:
    f.write(f"""[cosmic-ray]
module-path = "{module}"
timeout = {timeout}
excluded-modules = []
test-command = "{test_command}"

[cosmic-ray.distributor]
name = "local"

[cosmic-ray.filters.operators-filter]
exclude-operators = []
""")


def keep_operators(session):
  """Removes from the session's work items every mutant whose operator OPERATORS lacks."""
  keep = [re.compile(p) for p in OPERATORS]
  db = sqlite3.connect(session)
  rows = db.execute("SELECT DISTINCT operator_name FROM mutation_specs").fetchall()
  drop = [name for (name,) in rows if not any(p.fullmatch(name) for p in keep)]
  for name in drop:
    db.execute("DELETE FROM work_items WHERE job_id IN (SELECT job_id FROM mutation_specs "
               "WHERE operator_name = ?)", (name,))
    db.execute("DELETE FROM mutation_specs WHERE operator_name = ?", (name,))
  db.commit()
  db.close()


def commit(rev: str) -> str:
  """The full hash of `rev` in the checkout."""
  return subprocess.run(["git", "-C", REPO, "rev-parse", rev], check=True, capture_output=True,
                        text=True).stdout.strip()


def sample_pending(session, sample, module, seed=0):
  """Keeps at most `sample` mutants run or pending in `session`: the others not yet run
  are dropped, drawn at random with a seed from `module`'s path. Returns the number of
  mutants the session had before any was dropped (kept in the session's `totals`)."""
  import random
  db = sqlite3.connect(session)
  db.execute("CREATE TABLE IF NOT EXISTS totals (mutants INTEGER)")
  row = db.execute("SELECT mutants FROM totals").fetchone()
  if row is None:
    (total,) = db.execute("SELECT COUNT(*) FROM work_items").fetchone()
    db.execute("INSERT INTO totals VALUES (?)", (total,))
  else:
    (total,) = row
  if sample:
    (done,) = db.execute("SELECT COUNT(*) FROM work_results").fetchone()
    pending = [j for (j,) in db.execute(
        "SELECT job_id FROM work_items WHERE job_id NOT IN (SELECT job_id FROM work_results) "
        "ORDER BY job_id")]
    keep = max(0, sample - done)
    if len(pending) > keep:
      rng = random.Random(module if seed == 0 else f"{module}:{seed}")
      drop = sorted(set(pending) - set(rng.sample(pending, keep)))
      for job in drop:
        db.execute("DELETE FROM work_items WHERE job_id = ?", (job,))
        db.execute("DELETE FROM mutation_specs WHERE job_id = ?", (job,))
  db.commit()
  db.close()
  return total


def session_total(session):
  """The number of mutants the session was made with (before --sample dropped any)."""
  db = sqlite3.connect(session)
  try:
    row = db.execute("SELECT mutants FROM totals").fetchone()
  except sqlite3.OperationalError:
    row = None
  if row is None:
    (n,) = db.execute("SELECT COUNT(*) FROM work_items").fetchone()
    row = (n,)
  db.close()
  return row[0]


def run_module(module, workroot, timeout, fresh, recheck, executor, sample=0, rev="HEAD",
               seed=0):
  """One cosmic-ray session for `module` in its own scratch copy of commit `rev`; returns
  its results."""
  tests = tests_for(module)
  if not tests:
    return {"module": module, "error": "no test file imports it (add it to TESTS)"}
  name = module.replace("/", "_")[:-3]
  root = os.path.join(workroot, name)
  session = os.path.join(root, "session.sqlite")
  copy = os.path.join(root, "repo")
  source = subprocess.run(["git", "-C", REPO, "show", f"{rev}:{module}"], check=True,
                          capture_output=True, text=True).stdout
  made_from = os.path.join(root, "source.py")  # the text the session's mutants were made of
  if os.path.exists(made_from):
    with open(made_from) as f:
      fresh = fresh or f.read() != source  # the module changed: its mutants made anew
  if fresh and os.path.exists(root):
    shutil.rmtree(root)
  os.makedirs(root, exist_ok=True)
  with open(made_from, "w") as f:
    f.write(source)
  # The copy is commit `rev` (its tests, its other modules), never the working tree, where
  # an edit under way would fail every mutant's tests; cosmic-ray puts every mutated file
  # back after its mutant.
  if os.path.exists(copy):
    shutil.rmtree(copy)
  os.makedirs(copy)
  subprocess.run(f"git -C {REPO} archive {rev} | tar -x -C {copy}", shell=True, check=True)
  config = os.path.join(root, "config.toml")
  write_config(config, module, tests, timeout)
  env = {**os.environ, "PYTHONPATH": copy}
  start = time.time()
  if recheck and os.path.exists(session):
    db = sqlite3.connect(session)  # survivors run again, against today's tests
    db.execute("DELETE FROM work_results WHERE test_outcome = 'SURVIVED'")
    db.commit()
    db.close()
  if not os.path.exists(session):
    subprocess.run(["cosmic-ray", "init", config, session], cwd=copy, env=env, check=True,
                   capture_output=True)
    keep_operators(session)
  total = sample_pending(session, sample, module, seed)
  if executor == "cosmic-ray":
    subprocess.run(["cosmic-ray", "exec", config, session], cwd=copy, env=env, check=True,
                   capture_output=True)
  else:
    subprocess.run([sys.executable, __file__, "--exec_session", session, "--copy", copy,
                    "--timeout", str(timeout), "--tests", ",".join(tests)],
                   env=env, check=True)
  return {"module": module, "tests": tests, "seconds": time.time() - start,
          "results": read_session(session), "total": total, "rev": commit(rev)}


def exec_forked(session, copy, tests, timeout):
  """Runs the session's pending mutants, each in a child forked from this process.

  This process imports the heavy libraries the tests use (jax, flax, optax, ...) once,
  without starting XLA (no array is made here) and with one BLAS thread, so a fork meets
  no thread pool; each child imports nlx (with the mutant on disk) and runs pytest. It
  saves the interpreter start and those imports, most of a mutant's time with cosmic-ray's
  own `exec`."""
  os.environ["OPENBLAS_NUM_THREADS"] = "1"
  os.environ.setdefault("JAX_PLATFORMS", "cpu")
  cache = os.path.join(os.path.expanduser("~"), ".cache", "nlx-tests", "jax")
  os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", cache)  # as tests/conftest.py sets
  os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
  os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
  import flax.nnx  # noqa: F401  (imported for the children)
  import jax  # noqa: F401
  import numpy  # noqa: F401
  import optax  # noqa: F401
  import pytest  # noqa: F401
  import sklearn.metrics  # noqa: F401
  from cosmic_ray import plugins
  from cosmic_ray.mutating import _make_diff, use_mutation
  from cosmic_ray.work_db import WorkDB, use_db
  from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult
  threads = len(os.listdir("/proc/self/task"))
  if threads > 1:
    sys.exit(f"mutation_test: {threads} threads before the first fork; a fork would hang")
  os.chdir(copy)
  with use_db(session, WorkDB.Mode.open) as db:
    for item in db.pending_work_items:
      (mutation,) = item.mutations
      operator = plugins.get_operator(mutation.operator_name)(**(mutation.operator_args or {}))
      with use_mutation(mutation.module_path, operator, mutation.occurrence) as (old, new):
        if new is None:
          db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.NO_TEST))
          continue
        code, output = _pytest_in_child(copy, tests, timeout)
        if code == "timeout":
          output = f"timeout after {timeout:.0f} s\n{output}"
      diff = "\n".join(_make_diff(old, new, mutation.module_path))
      outcome = TestOutcome.SURVIVED if code in (0, 5) else TestOutcome.KILLED
      db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.NORMAL, output=output,
                                            test_outcome=outcome, diff=diff))


def _pytest_in_child(copy, tests, timeout):
  """(pytest's exit code or 'timeout', its last output) of the fast tests `tests`, run in a
  forked child (its own process group, killed whole at `timeout` seconds)."""
  import signal
  import tempfile
  with tempfile.TemporaryFile("w+") as log:
    pid = os.fork()
    if pid == 0:  # the child: never returns
      os.setpgrp()
      os.dup2(log.fileno(), 1)
      os.dup2(log.fileno(), 2)
      sys.path.insert(0, copy)
      import pytest
      code = pytest.main(["-q", "-x", "-n", "0", "-m", "not slow", "-p", "no:cacheprovider",
                          *tests])
      sys.stdout.flush()
      sys.stderr.flush()
      os._exit(int(code))
    deadline = time.time() + timeout
    while True:
      done, status = os.waitpid(pid, os.WNOHANG)
      if done:
        code = os.waitstatus_to_exitcode(status)
        break
      if time.time() > deadline:
        os.killpg(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        code = "timeout"
        break
      time.sleep(0.05)
    log.seek(0)
    return code, log.read()[-3000:]


def stored_report(module, workroot):
  """run_module's report from the session kept in `workroot` (what has run so far)."""
  session = os.path.join(workroot, module.replace("/", "_")[:-3], "session.sqlite")
  if not os.path.exists(session):
    return {"module": module, "error": "not run"}
  db = sqlite3.connect(session)
  (pending,) = db.execute("SELECT COUNT(*) FROM work_items WHERE job_id NOT IN "
                          "(SELECT job_id FROM work_results)").fetchone()
  db.close()
  return {"module": module, "tests": tests_for(module), "results": read_session(session),
          "pending": pending, "total": session_total(session)}


def read_session(session):
  """[(operator, line, outcome, diff)] from a finished cosmic-ray session."""
  db = sqlite3.connect(session)
  rows = db.execute(
      "SELECT s.operator_name, s.start_pos_row, r.test_outcome, r.diff, r.output "
      "FROM mutation_specs s JOIN work_results r ON s.job_id = r.job_id "
      "WHERE r.test_outcome IS NOT NULL").fetchall()
  db.close()
  return [(op, line, "timeout" if (output or "").startswith("timeout") else outcome.lower(),
           diff or "") for op, line, outcome, diff, output in rows]


def diff_line(diff):
  """The mutated line of a unified diff: '-old' -> '+new'."""
  lines = diff.splitlines()
  old = [s[1:].strip() for s in lines if s.startswith("-") and not s.startswith("---")]
  new = [s[1:].strip() for s in lines if s.startswith("+") and not s.startswith("+++")]
  return f"`{' '.join(old)}` -> `{' '.join(new)}`"


def table(reports, command):
  lines = ["# Mutation testing of nlx's core modules\n",
           f"Command: `{command}` ({datetime.date.today()}, 2-core CPU). Outcome per "
           "mutant: killed (a fast test failed), survived, timeout (counted as killed: the "
           "bug hangs the tests), incompetent (the mutant does not import: not counted).\n",
           "| module | tests run | mutants | killed | timeout | survived | score |",
           "|---|---|---|---|---|---|---|"]
  survivors = []
  total = {"killed": 0, "timeout": 0, "survived": 0}
  for report in reports:
    if "error" in report:
      lines.append(f"| `{report['module']}` | {report['error']} | | | | | |")
      continue
    counts = {"killed": 0, "timeout": 0, "survived": 0, "incompetent": 0}
    for op, line, outcome, diff in report["results"]:
      key = outcome
      counts[key] = counts.get(key, 0) + 1
      if key == "survived":
        survivors.append((report["module"], line, op, diff))
    n = counts["killed"] + counts["timeout"] + counts["survived"]
    for k in total:
      total[k] += counts[k]
    score = 100 * (counts["killed"] + counts["timeout"]) / max(n, 1)
    pending = f" ({report['pending']} not run yet)" if report.get("pending") else ""
    if report.get("total", n) > n + report.get("pending", 0):
      pending += f" of {report['total']}"
    lines.append(f"| `{report['module']}` | {len(report['tests'])} files | {n}{pending} | "
                 f"{counts['killed']} | {counts['timeout']} | {counts['survived']} | "
                 f"{score:.1f}% |")
  n = sum(total.values())
  lines.append(f"| **all** | | {n} | {total['killed']} | {total['timeout']} | "
               f"{total['survived']} | {100 * (n - total['survived']) / max(n, 1):.1f}% |")
  lines += ["", "## Survivors", "", "| module | line | mutant |", "|---|---|---|"]
  lines += [f"| `{m}` | {line} | {diff_line(diff)} |"
            for m, line, op, diff in sorted(survivors)]
  return "\n".join(lines) + "\n"


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--modules", default="core",
                      help="comma-separated files or packages under nlx/, or 'core'")
  parser.add_argument("--workroot", default=os.path.join(REPO, "workdirs", "mutation"))
  parser.add_argument("--workers", type=int, default=1, help="modules run at once")
  parser.add_argument("--timeout", type=float, default=300.0, help="seconds a mutant may take")
  parser.add_argument("--fresh", action="store_true", help="start every module's session over")
  parser.add_argument("--recheck", action="store_true",
                      help="run the survivors of earlier sessions again (after new tests)")
  parser.add_argument("--sample", type=int, default=0,
                      help="at most this many mutants per module, drawn at random (0: all)")
  parser.add_argument("--rev", default="HEAD", help="the commit whose modules and tests run")
  parser.add_argument("--seed", type=int, default=0,
                      help="another seed draws another sample (0: seeded by the path alone)")
  parser.add_argument("--out", default="", help="markdown file to write (else stdout)")
  parser.add_argument("--report_only", action="store_true",
                      help="write the table from the sessions in --workroot, run nothing")
  parser.add_argument("--executor", default="fork", choices=("fork", "cosmic-ray"),
                      help="fork: children of one process that imported jax once; "
                      "cosmic-ray: its own exec, a fresh interpreter per mutant")
  # The fork executor's own process (started by run_module):
  parser.add_argument("--exec_session", default="", help=argparse.SUPPRESS)
  parser.add_argument("--copy", default="", help=argparse.SUPPRESS)
  parser.add_argument("--tests", default="", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.exec_session:
    return exec_forked(args.exec_session, args.copy, args.tests.split(","), args.timeout)
  if shutil.which("cosmic-ray") is None:
    sys.exit("mutation_test: cosmic-ray is not installed (pip install -e \".[dev]\")")
  modules = module_files(args.modules.split(","))
  os.makedirs(args.workroot, exist_ok=True)
  if args.report_only:
    reports = [stored_report(m, args.workroot) for m in modules]
  else:
    with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
      futures = [pool.submit(run_module, m, args.workroot, args.timeout, args.fresh,
                             args.recheck, args.executor, args.sample, args.rev,
                             args.seed)
                 for m in modules]
      reports = []
      for module, future in zip(modules, futures):
        reports.append(future.result())
        print(f"{module}: done", flush=True)
  command = ("python experiments/mutation_test.py " + " ".join(sys.argv[1:])
             + f"  # at commit {commit(args.rev)[:12]}")
  text = table(reports, command)
  if args.out:
    with open(args.out, "w") as f:
      f.write(text)
    with open(args.out.removesuffix(".md") + ".json", "w") as f:
      json.dump(reports, f, indent=1)
  print(text)


if __name__ == "__main__":
  main()
