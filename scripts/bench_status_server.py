"""What the status server costs processing, and how fast it answers while processing goes on
(issue 14: at most 3% slower with a client polling; /api/health under 10 ms).

    python3 scripts/bench_status_server.py pair FILES PAIRS
        farm-bench: `dicomdrop --once` on a FILES-file drop with `http.listen` set and a client
        GETting /api/units and /metrics every 100 ms, against the same run without the server,
        in turn, PAIRS pairs; prints farm-bench's report.
    python3 scripts/bench_status_server.py run DROP with|without
        One such run (what farm-bench times): a fresh output and ledger, then removed.
    python3 scripts/bench_status_server.py health FILES
        A watching daemon with the server; FILES files dropped at once; /api/health asked every
        100 ms until the unit is done: latency median, p99 and max, and how many answers.

DICOMDROP names the binary (scripts/bench-status-server builds the release one)."""
import json
import os
import pathlib
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import bench_daemon  # noqa: E402  (make_drop, templates, warm)

BINARY = os.environ.get("DICOMDROP", ".build/release/dicomdrop")
CONFIG = "drop: drop\noutput: out\ndatabase: ledger.sqlite\nsettle_seconds: 0\nworkers: 2\n"
SERVER = "http:\n  listen: 127.0.0.1:0\n"


def address_in(log: pathlib.Path, process) -> str | None:
    """The server's address, once the daemon has logged it."""
    while process.poll() is None:
        match = re.search(r"status server listening on (http://\S+)", log.read_text(errors="replace"))
        if match:
            return match.group(1)
        time.sleep(0.01)
    return None


def poll(address: str, paths: list[str], process, interval: float, latencies: list | None = None) -> int:
    """GETs each of `paths` every `interval` s while `process` runs; how many answered."""
    answered = 0
    while process.poll() is None:
        started = time.perf_counter()
        for path in paths:
            try:
                with urllib.request.urlopen(address + path, timeout=5) as response:
                    response.read()
                answered += 1
                if latencies is not None:
                    latencies.append((time.perf_counter() - started) * 1000)
            except OSError:
                pass
        # In 10 ms slices: the run's wall time is read when the daemon is seen to have exited.
        while process.poll() is None and time.perf_counter() - started < interval:
            time.sleep(0.01)
    return answered


def one_run(drop: pathlib.Path, mode: str) -> int:
    work = pathlib.Path(tempfile.mkdtemp(prefix="dicomdrop-status-bench-"))
    try:
        (work / "drop").symlink_to(drop)
        (work / "watch.yaml").write_text(CONFIG + (SERVER if mode == "with" else ""))
        log = work / "daemon.log"
        with open(log, "w") as output:
            started, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
            process = subprocess.Popen([BINARY, "--config", str(work / "watch.yaml"), "--once"], stdout=output, stderr=output)
            answered = 0
            if mode == "with":
                address = address_in(log, process)
                if address:
                    answered = poll(address, ["api/units", "metrics"], process, 0.1)
            status = process.wait()
            wall = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        # The daemon's own figures, apart from this runner's and its client's.
        if os.environ.get("BENCH_RECORD"):
            with open(os.environ["BENCH_RECORD"], "a") as record:
                record.write(f"{mode} {wall:.4f} {cpu:.4f} {answered}\n")
        if status != 0:
            print(log.read_text(), file=sys.stderr)
        if mode == "with" and answered == 0:
            print("bench-status-server: the client got no answer", file=sys.stderr)
            return 1
        return status
    finally:
        shutil.rmtree(work, ignore_errors=True)


def prepared_drop(files: int, root: pathlib.Path) -> pathlib.Path:
    bench_daemon.make_drop(root, files, bench_daemon.templates())
    bench_daemon.warm(root)
    return root / "drop"


def pair(files: int, pairs: int) -> int:
    root = pathlib.Path(tempfile.mkdtemp(prefix="dicomdrop-status-drop-"))
    try:
        drop = prepared_drop(files, root)
        if pairs == 0:  # bench-smoke: one run with the server and its client, no timing
            status = one_run(drop, "with")
            print(f"one --once run of {files} files with the server and a polling client: exit {status}", flush=True)
            return status
        me = [sys.executable, __file__, "run", str(drop)]
        command = ["farm-bench", "-n", str(pairs), "--timeout", "3600", "--vs", " ".join(me + ["without"]), "--"] + me + ["with"]
        print("$ " + " ".join(command), flush=True)
        record = root / "runs.txt"
        status = subprocess.run(command, env=dict(os.environ, DICOMDROP=os.path.abspath(BINARY), BENCH_RECORD=str(record))).returncode
        # farm-bench runs A B A B ..., the first pair a warm-up: the daemon's own wall and CPU
        # ratios, pair by pair, without the runner's and the client's.
        runs = [line.split() for line in record.read_text().splitlines()][2:]
        pairs_seen = [(a, b) for a, b in zip(runs[0::2], runs[1::2]) if a[0] == "with" and b[0] == "without"]
        if pairs_seen:
            walls = sorted(float(a[1]) / float(b[1]) for a, b in pairs_seen)
            cpus = sorted(float(a[2]) / float(b[2]) for a, b in pairs_seen)
            answers = statistics.median(int(a[3]) for a, _ in pairs_seen)
            print(f"the daemon alone, with the server polled / without, {len(pairs_seen)} pairs: wall median "
                  f"{statistics.median(walls):.3f} (spread {walls[0]:.3f}-{walls[-1]:.3f}), CPU median {statistics.median(cpus):.3f} "
                  f"(spread {cpus[0]:.3f}-{cpus[-1]:.3f}); {answers:.0f} answers per run", flush=True)
        return status
    finally:
        shutil.rmtree(root, ignore_errors=True)


def health(files: int) -> int:
    work = pathlib.Path(tempfile.mkdtemp(prefix="dicomdrop-status-health-"))
    try:
        staging = work / "staging"
        prepared_drop(files, staging)
        (work / "drop").mkdir()
        (work / "watch.yaml").write_text(CONFIG.replace("settle_seconds: 0", "settle_seconds: 0.5") + SERVER)
        log = work / "daemon.log"
        with open(log, "w") as output:
            process = subprocess.Popen([BINARY, "--config", str(work / "watch.yaml")], stdout=output, stderr=output)
            address = address_in(log, process)
            if not address:
                print(log.read_text(), file=sys.stderr)
                return 1
            # The unit arrives by one rename: inotify sees it, it settles, and is processed.
            os.rename(staging / "drop" / "bench", work / "drop" / "bench")
            latencies: list[float] = []
            statuses: list[int] = []
            started = time.perf_counter()
            while True:
                asked = time.perf_counter()
                with urllib.request.urlopen(address + "api/health", timeout=5) as response:
                    document = json.loads(response.read())
                    statuses.append(response.status)
                latencies.append((time.perf_counter() - asked) * 1000)
                with urllib.request.urlopen(address + "api/units", timeout=30) as response:
                    units = json.loads(response.read())["units"]
                if units and units[0]["state"] == "done" and units[0]["processed"] + units[0]["duplicate"] >= files:
                    break
                if time.perf_counter() - started > 900:
                    print("bench-status-server: the unit was not done in 15 minutes", file=sys.stderr)
                    return 1
                time.sleep(0.1)
            seconds = time.perf_counter() - started
            process.terminate()
            process.wait()
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        over = sum(1 for latency in latencies if latency >= 10)
        print(f"/api/health while a {files}-file drop was processed ({seconds:.1f} s): {len(latencies)} answers, "
              f"all {sorted(set(statuses))}; latency median {statistics.median(latencies):.2f} ms, p99 {p99:.2f} ms, "
              f"max {latencies[-1]:.2f} ms, {over} at 10 ms or more; ok={document['ok']}", flush=True)
        # A measurement, not a check: the exit status says the run worked, the line above
        # how fast (bench-smoke runs this on a loaded machine).
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    verb = sys.argv[1]
    if verb == "run":
        sys.exit(one_run(pathlib.Path(sys.argv[2]), sys.argv[3]))
    if verb == "pair":
        sys.exit(pair(int(sys.argv[2]), int(sys.argv[3])))
    if verb == "health":
        sys.exit(health(int(sys.argv[2])))
    sys.exit(f"unknown verb {verb}")
