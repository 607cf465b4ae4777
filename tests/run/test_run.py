"""`memgov run` and libmemgov-preload.so on real programs (suite 'run', normal build only: docs/run.md).

usage: test_run.py MEMGOV ENOMEM_EXE BAD_ALLOC_EXE ALLOC_STRESS_EXE DLOPEN_TLS_EXE TLS_MODULE

Each check runs a program under `memgov run` and asserts on its exit status, its output and the exit report
(JSON); the Debian programs' outputs are compared with runs without memgov. Debian's /usr/bin/python3 with numpy
and pandas is required (scripts/bootstrap.sh installs them)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

MEMGOV, ENOMEM_EXE, BAD_ALLOC_EXE, STRESS_EXE, DLOPEN_TLS_EXE, TLS_MODULE = (os.path.abspath(a) for a in sys.argv[1:7])
HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "..", "examples", "run_halve_batch.py")  # the docs/run.md recipe
PY = "/usr/bin/python3"
TMP = tempfile.mkdtemp(prefix="memgov-run-test.")
failures = []


def run(args, limit=None, env=None, stdin=None, cwd=None, extra=()):
    """Runs ARGS under memgov run with the JSON report in a file; returns (completed process, report)."""
    report = os.path.join(TMP, "report.json")
    if os.path.exists(report):
        os.unlink(report)
    cmd = [MEMGOV, "run", "--report", "json", "--report-file", report, *extra]
    if limit:
        cmd += ["--limit", limit]
    p = subprocess.run(cmd + ["--"] + list(args), capture_output=True, env=env, input=stdin, cwd=cwd, timeout=120)
    rep = None
    if os.path.exists(report):
        with open(report) as f:
            rep = json.load(f)  # must be valid JSON
    return p, rep


def plain(args, stdin=None, cwd=None):
    return subprocess.run(list(args), capture_output=True, input=stdin, cwd=cwd, timeout=120)


def check(name, fn):
    t0 = time.monotonic()
    try:
        fn()
        print(f"ok   {name} ({time.monotonic() - t0:.1f} s)")
    except AssertionError as e:
        print(f"FAIL {name}: {e}")
        failures.append(name)


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


# ---- the cases ----------------------------------------------------------------------------------------

def numpy_memory_error():
    p, rep = run([PY, "-c", "import numpy; numpy.ones(10**9)"], limit="200M")
    err = p.stderr.decode()
    expect(p.returncode == 1, f"exit {p.returncode}, want 1 (Python's MemoryError), stderr: {err[-500:]}")
    expect("MemoryError" in err and "Traceback" in err, f"no MemoryError traceback: {err[-500:]}")
    expect(rep["signal"] is None and rep["exit_status"] == 1, f"report: {rep}")
    proc = rep["process"]
    expect(proc["refusals"] >= 1 and proc["largest_refused"] >= 8 * 10**9, f"refusal not reported: {proc}")
    expect(proc["peak"] <= 200 * 2**20 and proc["limit"] == 200 * 2**20, f"peak/limit: {proc}")


def numpy_fits():
    p, rep = run([PY, "-c", "import numpy; print(int(numpy.ones(10**7).sum()))"], limit="200M")
    expect(p.returncode == 0 and p.stdout.strip() == b"10000000", f"exit {p.returncode}: {p.stderr[-500:]}")
    expect(rep["process"]["refusals"] == 0 and rep["process"]["peak"] >= 8 * 10**7, f"report: {rep['process']}")


def halving_batch():
    n = 6 * 2**20  # naive: 2 arrays of 48 MiB = 96 MiB, 4x the cap
    naive, _ = run([PY, EXAMPLE, str(n), "naive"], limit="24M")
    expect(naive.returncode == 1 and b"MemoryError" in naive.stderr, f"naive version: exit {naive.returncode}")
    p, rep = run([PY, EXAMPLE, str(n), "halving"], limit="24M")
    out = p.stdout.decode()
    expect(p.returncode == 0 and "halvings" in out, f"exit {p.returncode}: {out} {p.stderr[-500:]}")
    expect(int(out.split("halvings ")[1].split()[0]) >= 2, f"did not halve at least twice: {out}")
    expect(rep["process"]["refusals"] >= 2 and rep["process"]["peak"] <= 24 * 2**20, f"report: {rep['process']}")


def cxx_bad_alloc():
    p, rep = run([BAD_ALLOC_EXE], limit="64M")
    expect(p.returncode == 0 and b"caught std::bad_alloc" in p.stdout, f"exit {p.returncode}: {p.stdout} {p.stderr}")
    expect(rep["process"]["refusals"] == 1, f"report: {rep['process']}")


def c_enomem():
    p, rep = run([ENOMEM_EXE], limit="64M")
    expect(p.returncode == 0 and b"enomem: ok" in p.stdout, f"exit {p.returncode}: {p.stderr}")
    expect(rep["process"]["refusals"] >= 4, f"report: {rep['process']}")


def allocator_api():
    p, rep = run([STRESS_EXE], limit="64M")
    expect(p.returncode == 0 and b"alloc_stress: ok" in p.stdout, f"exit {p.returncode}: {p.stderr}")
    proc = rep["process"]
    expect(proc["used_at_exit"] < 2**20, f"blocks freed by other threads still charged: {proc}")
    expect(proc["foreign_frees"] >= 3, f"foreign frees not seen: {proc}")
    expect(rep["children_total"] == 10, f"want 10 exec'd children with records of their own: {rep['children_total']}")
    expect(all(c["refusals"] == 1 for c in rep["children"]), "each exec'd child is refused its 256 MiB by its cap")


def dlopen_tls():
    mods = os.path.join(TMP, "tls")
    os.makedirs(mods)
    for i in range(40):  # more than the 14 spare slots of a thread's TLS vector: glibc must grow it with malloc
        shutil.copy(TLS_MODULE, os.path.join(mods, f"libtls{i}.so"))
    p, rep = run([DLOPEN_TLS_EXE, mods, "40"], limit="256M")
    expect(p.returncode == 0 and b"dlopen_tls: ok" in p.stdout, f"exit {p.returncode}: {p.stderr[-500:]}")
    # 3 threads x (100 rounds after the last dlopen, at least) x 16 blocks, charged
    expect(rep["process"]["allocations"] >= 4800, f"not charged: {rep['process']}")


# ---- exit statuses and bad input -------------------------------------------------------------------------------

def statuses():
    p, _ = run(["sh", "-c", "exit 7"])
    expect(p.returncode == 7, f"exit status not passed through: {p.returncode}")
    p, rep = run(["sh", "-c", "kill -TERM $$"])
    expect(p.returncode == 128 + 15 and rep["signal"] == 15 and rep["process"] is None, f"signal: {p.returncode}")
    p, _ = run(["memgov-no-such-command"])
    expect(p.returncode == 127 and b"command not found" in p.stderr, f"missing: {p.returncode} {p.stderr}")
    p, _ = run([EXAMPLE])  # not executable
    expect(p.returncode == 126, f"not executable: {p.returncode}")
    p, _ = run(["true"], limit="lots")
    expect(p.returncode == 125 and b"'lots': not a size" in p.stderr, f"bad size: {p.returncode} {p.stderr}")
    p, _ = run(["true"], extra=["--spill", TMP])
    expect(p.returncode == 125 and b"does not use file-backed budgets yet" in p.stderr, f"--spill: {p.returncode} {p.stderr}")
    p, _ = run(["true"], limit="1000000GiB")
    expect(p.returncode == 0 and b"above the effective memory" in p.stderr, f"huge limit: {p.stderr}")
    probe = json.loads(subprocess.run([MEMGOV, "probe", "--json"], capture_output=True, check=True).stdout)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMGOV_")}
    p, rep = run(["true"], env=env)  # no --limit: root.limit, 90 % of the effective memory
    want = probe["effective_memory"] * 9 // 10
    expect(p.returncode == 0 and abs(rep["process"]["limit"] - want) <= 1, f"default cap {rep['process']['limit']}, want {want}")


def static_program():
    src = os.path.join(TMP, "static.c")
    with open(src, "w") as f:
        f.write("int main(void) { return 0; }\n")
    exe = os.path.join(TMP, "static")
    if subprocess.run(["cc", "-static", "-o", exe, src], capture_output=True).returncode != 0:
        print("     (no static libc to build a static program: skipped this case)")
        return
    p, _ = run([exe])
    expect(p.returncode == 126 and b"statically linked" in p.stderr, f"static: {p.returncode} {p.stderr}")


def text_report():
    p = subprocess.run([MEMGOV, "run", "--limit", "64M", "--", BAD_ALLOC_EXE], capture_output=True, timeout=60)
    err = p.stderr.decode()
    for want in ("exited with status 0", "cap ", "64.0 MiB hard", "peak ", "refusals     1", "over soft", "modes "):
        expect(want in err, f"text report lacks '{want}': {err}")


def time_over_soft():
    prog = "import numpy, time\na = numpy.ones(10**7)\ntime.sleep(0.3)\ndel a\ntime.sleep(2.0)\n"
    p, rep = run([PY, "-c", prog], limit="200M", extra=["--soft", "50M"])
    over, wall = rep["process"]["over_soft_s"], rep["wall_s"]
    expect(p.returncode == 0 and rep["process"]["soft_limit"] == 50 * 2**20, f"exit {p.returncode}: {rep}")
    # at least the 0.3 s sleep with 80 MB held, and none of the 2 s after the array is freed
    expect(0.3 <= over <= wall - 2.0, f"time over the soft limit {over} s of {wall} s")


def mode_hooks():
    mode_file = os.path.join(TMP, "mode")
    log = os.path.join(TMP, "hook.log")
    env = dict(os.environ, MEMGOV_RUN_MODE_FILE=mode_file, MEMGOV_RUN_ON_MODE_CHANGE=f'echo "$1 $2" >> {log}')
    p, rep = run([ENOMEM_EXE], limit="64M", env=env)
    expect(p.returncode == 0 and rep["process"]["transitions"] >= 1, f"no mode change: {rep['process']}")
    with open(mode_file) as f:
        expect(f.read().strip() == rep["process"]["mode_at_exit"], "mode file differs from the final mode")
    with open(log) as f:
        lines = f.read().split("\n")
    expect(lines[0].split()[0] in ("light", "minimal", "emergency"), f"hook command's arguments: {lines}")


# ---- Debian programs, outputs compared with plain runs -------------------------------------------------------------

def same(args, limit="1G", stdin=None, cwd=None, env=None):
    a = plain(args, stdin=stdin, cwd=cwd)
    b, rep = run(args, limit=limit, stdin=stdin, cwd=cwd, env=env)
    expect(a.returncode == 0 and b.returncode == 0, f"{args[0]}: exit {a.returncode} / {b.returncode}: {b.stderr[-300:]}")
    expect(a.stdout == b.stdout, f"{args[0]}: output differs under memgov run")
    expect(rep["process"] is not None and rep["process"]["allocations"] > 0, f"{args[0]}: nothing was charged")
    return b


NUMPY_PANDAS = """
import numpy as np, pandas as pd
rng = np.random.default_rng(1)
a = rng.standard_normal((400, 400))
print(round(float(np.linalg.norm(a @ a.T)), 6))
df = pd.DataFrame({"k": rng.integers(0, 50, 200000), "v": rng.standard_normal(200000)})
g = df.groupby("k")["v"].agg(["sum", "mean", "count"]).round(9)
print(g.to_csv())
s = df.sort_values("v").head(5).to_string()
print(s)
"""


def debian_python():
    same([PY, "-c", NUMPY_PANDAS])


def debian_sort():
    data = os.path.join(TMP, "lines.txt")
    with open(data, "w") as f:
        for i in range(300000):
            f.write(f"{(i * 7919) % 1000003:07d} line {i}\n")
    same(["sort", "-S", "64M", data])


def debian_gzip():
    blob = os.urandom(1 << 20) * 4 + b"memgov " * 300000
    a = plain(["gzip", "-c", "-6"], stdin=blob)
    b, _ = run(["gzip", "-c", "-6"], limit="256M", stdin=blob)
    expect(a.returncode == 0 and b.returncode == 0 and a.stdout == b.stdout, "gzip output differs under memgov run")
    c, _ = run(["gzip", "-dc"], limit="256M", stdin=b.stdout)
    expect(c.returncode == 0 and c.stdout == blob, "gzip -d did not give the data back")


def debian_git():
    repo = os.path.join(TMP, "repo")
    os.makedirs(repo)
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@e", GIT_AUTHOR_DATE="2026-01-01T00:00:00Z",
               GIT_COMMITTER_DATE="2026-01-01T00:00:00Z", HOME=TMP)
    for cmd in (["git", "init", "-q", "-b", "main"],):
        subprocess.run(cmd, cwd=repo, check=True, env=env)
    for i in range(30):
        with open(os.path.join(repo, f"f{i}.txt"), "w") as f:
            f.write(f"file {i}\n" * (i * 50 + 1))
    r, _ = run(["git", "add", "."], cwd=repo, env=env)
    expect(r.returncode == 0, "git add failed under memgov run")
    r, _ = run(["git", "commit", "-q", "-m", "first"], cwd=repo, env=env)
    expect(r.returncode == 0, f"git commit failed under memgov run: {r.stderr}")
    for args in (["git", "log", "--stat"], ["git", "ls-files", "-s"], ["git", "fsck", "--full"]):
        a = subprocess.run(args, cwd=repo, env=env, capture_output=True)
        b, _ = run(args, cwd=repo, env=env)
        expect(a.returncode == 0 and b.returncode == 0 and a.stdout == b.stdout, f"{args}: differs under memgov run")


for name, fn in [("numpy ones(10**9) under 200M: MemoryError", numpy_memory_error),
                 ("numpy under 200M that fits", numpy_fits),
                 ("halve the batch on MemoryError", halving_batch),
                 ("C++ std::bad_alloc", cxx_bad_alloc),
                 ("C NULL with ENOMEM", c_enomem),
                 ("allocator API stress (threads, fork+exec, alignment, realloc, foreign frees)", allocator_api),
                 ("dlopen of 40 TLS libraries while threads allocate", dlopen_tls),
                 ("exit statuses and bad input", statuses),
                 ("statically linked program refused", static_program),
                 ("text report", text_report),
                 ("time over the soft limit", time_over_soft),
                 ("mode hooks (run.mode_file, run.on_mode_change)", mode_hooks),
                 ("python3 numpy/pandas output unchanged", debian_python),
                 ("sort output unchanged", debian_sort),
                 ("gzip output unchanged", debian_gzip),
                 ("git on a test repository unchanged", debian_git)]:
    check(name, fn)
shutil.rmtree(TMP, ignore_errors=True)
print(f"{len(failures)} failed" if failures else "all passed")
sys.exit(1 if failures else 0)
