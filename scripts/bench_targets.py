"""The measurements behind scripts/bench-targets (see there): issue 16's targets that are not
ratios to a peer, one line each. Python is the harness only; dicomdrop runs as its binary."""
import argparse
import io
import json
import os
import pathlib
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings

import pydicom

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import bench_report  # noqa: E402

DICOMDROP = os.environ["DICOMDROP"]
TEST_FILES = pathlib.Path("corpus/files/pydicom/test_files")
# A valid 2.25 UID of 44 characters (even: no padding), which each copy's replaces in place.
PLACEHOLDER = "2.25." + "1" * 39
warnings.simplefilter("ignore")


def small_templates() -> list[bytes]:
    """CT_small and MR_small (128 x 128 and 64 x 64, 16 bits) as Part 10 bytes whose SOP
    Instance UID, in the file meta and in the dataset, is PLACEHOLDER: a copy is a bytes
    replace, thousands a second, instead of a pydicom write."""
    found = []
    for name in ("CT_small.dcm", "MR_small.dcm"):
        ds = pydicom.dcmread(TEST_FILES / name)
        ds.SOPInstanceUID = PLACEHOLDER
        ds.file_meta.MediaStorageSOPInstanceUID = PLACEHOLDER
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        data = buffer.getvalue()
        if data.count(PLACEHOLDER.encode()) != 2:
            raise SystemExit(f"bench-targets: {name}: the SOP Instance UID is not where a copy would replace it")
        found.append(data)
    return found


def unique_uid(series: int, index: int) -> bytes:
    """The same length as PLACEHOLDER, below 2^128 as a 2.25 UID must be."""
    uid = f"2.25.{10 ** 38 + series * 10 ** 12 + index}"
    assert len(uid) == len(PLACEHOLDER)
    return uid.encode()


def write_copies(drop: pathlib.Path, count: int, per_folder: int, series: int) -> int:
    """`count` distinct small DICOM files, `per_folder` to a folder (a unit) of `drop`;
    returns their bytes."""
    templates = small_templates()
    total = 0
    for index in range(count):
        folder = drop / f"unit{index // per_folder:04d}"
        if index % per_folder == 0:
            folder.mkdir(parents=True)
        data = templates[index % len(templates)].replace(PLACEHOLDER.encode(), unique_uid(series, index))
        (folder / f"{index:06d}.dcm").write_bytes(data)
        total += len(data)
    return total


def write_config(root: pathlib.Path, extra: str = "", settle: float = 0) -> pathlib.Path:
    config = root / "watch.yaml"
    config.write_text(f"drop: drop\noutput: out\ndatabase: ledger.sqlite\nsettle_seconds: {settle:g}\n" + extra)
    return config


def once(config: pathlib.Path) -> dict:
    """One `dicomdrop --once` under GNU time -v: wall seconds, CPU seconds, peak RSS (MB) and
    the units its start-up found pending."""
    start = time.perf_counter()
    # In a session of its own, so that a harness stopped midway stops dicomdrop too (GNU time
    # passes no signal on to it).
    with subprocess.Popen(["/usr/bin/time", "-v", DICOMDROP, "--config", str(config), "--once"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, start_new_session=True) as process:
        try:
            _, stderr = process.communicate()
        except BaseException:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    result = subprocess.CompletedProcess(process.args, process.returncode, "", stderr)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"dicomdrop --once failed ({result.returncode}): {result.stderr[-2000:]}")

    def field(label):
        return float(re.search(rf"^\s*{re.escape(label)}: ([0-9.]+)$", result.stderr, re.M).group(1))
    pending = re.search(r"(\d+) unit\(s\) pending at start-up", result.stderr)
    return {"wall": wall, "cpu": field("User time (seconds)") + field("System time (seconds)"),
            "peak": field("Maximum resident set size (kbytes)") / 1024, "pending": int(pending.group(1)) if pending else None}


def count_pngs(out: pathlib.Path) -> int:
    return sum(1 for _ in out.rglob("*.png"))


class Daemon:
    """dicomdrop without --once, its log in a file, stopped with SIGTERM."""

    def __init__(self, config: pathlib.Path, log: pathlib.Path, ready_within: float):
        self.log = log
        self.process = subprocess.Popen([DICOMDROP, "--config", str(config)], stdout=log.open("w"), stderr=subprocess.STDOUT,
                                        start_new_session=True)
        try:
            self.wait_for(r"^.*watching .*pending at start-up", ready_within)
        except BaseException:
            # Not left running when it never became ready.
            self.process.kill()
            self.process.wait()
            raise

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until(self, condition, what: str, seconds: float):
        """The first true value of `condition` on the log's text, polled."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = condition(self.text())
            if found:
                return found
            if self.process.poll() is not None:
                raise RuntimeError(f"dicomdrop exited ({self.process.returncode}): {self.text()[-2000:]}")
            time.sleep(0.02)
        raise RuntimeError(f"dicomdrop logged no {what} within {seconds:.0f} s: {self.text()[-2000:]}")

    def wait_for(self, pattern: str, seconds: float) -> re.Match:
        return self.wait_until(lambda text: re.search(pattern, text, re.M), f"/{pattern}/", seconds)

    def cpu_seconds(self) -> float:
        fields = pathlib.Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.returncode not in (0, -signal.SIGKILL):
            raise RuntimeError(f"dicomdrop ended with {self.process.returncode}: {self.text()[-2000:]}")


# ---- the targets ----

def peak_rss(work: pathlib.Path, count: int) -> str:
    """Peak RSS of `dicomdrop --once` over `count` small files in one folder (one unit, one
    run: the largest run's memory)."""
    root = work / "rss"
    size = write_copies(root / "drop", count, count, series=1)
    os.sync()
    run = once(write_config(root))
    pngs = count_pngs(root / "out")
    check = "" if pngs == count else f"; only {pngs} PNGs of {count} files"
    return (f"peak RSS: dicomdrop --once over {count} files in one folder (copies of CT_small and MR_small with distinct UIDs, "
            f"{size / 1e6:.0f} MB): {run['peak']:.1f} MB (target: under 150 MB); {run['wall']:.1f} s, "
            f"{count / run['wall']:.0f} files/s, CPU {run['cpu']:.1f} s{check}")


def health(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=10) as response:
        return json.loads(response.read())


def metric(port: int, name: str, kind: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    found = re.search(rf'^{name}{{kind="{kind}"}} ([0-9.e+-]+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


# Directories of at most 1,000 images for the 100,000-file ingest: without it each run (a
# folder) writes its bucket's whole manifest again, in time that grows faster than the
# bucket (a run of 1,000 files took 1 s with an empty bucket and 55 s with 40,000 images in
# it), and the ingest alone would take hours. A no-op pass writes no manifest either way.
RESCAN_BUCKETS = "buckets:\n  capacity: 1000\n"


def rescan(work: pathlib.Path, count: int, passes: int) -> str:
    """`count` small files in folders of 1,000 ingested by one --once, then: the restart's
    no-op start-up pass (a second --once), and the daemon's own periodic pass
    (rescan_seconds: 1), as /api/health reports its walk and compare, and the daemon's CPU per
    pass, which also counts reading the ledger's stamps before each walk."""
    root = work / "rescan"
    size = write_copies(root / "drop", count, 1000, series=2)
    os.sync()
    config = write_config(root, RESCAN_BUCKETS)
    first = once(config)
    pngs = count_pngs(root / "out")
    again = once(config)
    noop = "" if again["pending"] == 0 else f" (found {again['pending']} units pending: not a no-op)"

    config = write_config(root, RESCAN_BUCKETS + "rescan_seconds: 1\nhttp:\n  listen: 127.0.0.1:0\n")
    daemon = Daemon(config, root / "daemon.log", ready_within=600)
    try:
        port = int(daemon.wait_for(r"status server listening on http://[^:]+:(\d+)/", 30).group(1))
        seen, walks = None, []
        deadline = time.monotonic() + 60 + passes * 5
        while len(walks) < passes and time.monotonic() < deadline:
            last = health(port).get("last_pass")
            if last and last["at"] != seen:
                if seen is not None:  # the first one seen may be the start-up pass
                    walks.append((last["seconds"], last["files"]))
                seen = last["at"]
            time.sleep(0.2)
        # The daemon's CPU over a quiet window, by the passes it made meanwhile (nothing
        # polls it but the two reads of /metrics).
        before_passes, before_cpu = metric(port, "dicomdrop_passes_total", "rescan"), daemon.cpu_seconds()
        time.sleep(max(5.0, passes * 1.2))
        after_passes, after_cpu = metric(port, "dicomdrop_passes_total", "rescan"), daemon.cpu_seconds()
    finally:
        daemon.stop()
    if not walks:
        raise RuntimeError(f"no rescan pass reported by /api/health: {daemon.text()[-2000:]}")
    seconds = [walk for walk, _ in walks]
    window = after_passes - before_passes
    cpu = f"{(after_cpu - before_cpu) / window:.3f} s" if window else "? (no pass in the window)"
    check = "" if pngs == count else f"; the first run made only {pngs} PNGs of {count} files"
    folders = (count + 999) // 1000
    return (f"no-op rescan of {walks[-1][1]} files ({count} ingested, {folders} folder{'s' * (folders != 1)}, {size / 1e6:.0f} MB, "
            f"buckets.capacity 1000): "
            f"restart (a second --once) {again['wall']:.2f} s wall, CPU {again['cpu']:.2f} s, peak RSS {again['peak']:.1f} MB{noop}; "
            f"the daemon's periodic pass (rescan_seconds 1, /api/health last_pass.seconds, walk and compare) median "
            f"{statistics.median(seconds):.3f} s, max {max(seconds):.3f} s over {len(seconds)} passes, daemon CPU {cpu} per pass "
            f"(with the ledger's stamps read) (target: under 1 s); first ingest {first['wall']:.1f} s "
            f"({count / first['wall']:.0f} files/s, peak RSS {first['peak']:.1f} MB){check}")


def latency(work: pathlib.Path, drops: int, settle: float) -> str:
    """One file dropped at a time into a daemon left running: written in a staging folder on
    the same filesystem and the folder renamed into the drop (the copy is atomic), the
    output directory scanned every millisecond for the PNG; the delay past settle_seconds."""
    root = work / f"latency-{settle:g}"
    (root / "drop").mkdir(parents=True)
    staging = root / "staging"
    staging.mkdir()
    write_config(root, "rescan_seconds: 3600\n", settle=settle)
    template = small_templates()[0]
    daemon = Daemon(root / "watch.yaml", root / "daemon.log", ready_within=60)
    out = root / "out"
    delays, shuffle = [], random.Random(settle)
    try:
        for index in range(drops):
            folder = staging / f"study{index:03d}"
            folder.mkdir()
            (folder / "image.dcm").write_bytes(template.replace(PLACEHOLDER.encode(), unique_uid(3, index)))
            os.sync()  # no writeback of the drop during the measurement
            # A random phase against the daemon's 100 ms tick.
            time.sleep(shuffle.uniform(0.05, 0.15))
            start = time.perf_counter()
            os.rename(folder, root / "drop" / folder.name)
            deadline = start + settle + 30
            while True:
                if out.is_dir() and sum(1 for path in out.glob("*/*.png") if not path.name.startswith(".")) > index:
                    break
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"no PNG of drop {index} within {settle + 30:g} s: {daemon.text()[-2000:]}")
                time.sleep(0.001)
            delays.append(time.perf_counter() - start - settle)
            # The run's record closes after its PNG: the next drop waits for it.
            daemon.wait_until(lambda text: text.count("run done:") > index, f"run done of drop {index}", 30)
    finally:
        daemon.stop()
    run_seconds = [float(s) for s in re.findall(r"run done: .* seconds=([0-9.]+)", daemon.text())]
    return (f"latency, one-file drop to its PNG, settle_seconds {settle:g}: median {statistics.median(delays) * 1000:.0f} ms, "
            f"max {max(delays) * 1000:.0f} ms past settle_seconds over {len(delays)} drops (target: under 50 ms); "
            f"the runs themselves (log's seconds=) median {statistics.median(run_seconds) * 1000:.0f} ms")


def main() -> int:
    # A stop (SIGTERM) unwinds like an error: daemons stopped, the work directory removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(prog="bench-targets")
    parser.add_argument("rss_files", nargs="?", type=int, default=20_000)
    parser.add_argument("rescan_files", nargs="?", type=int, default=100_000)
    parser.add_argument("drops", nargs="?", type=int, default=20)
    parser.add_argument("document", nargs="?", default="")
    parser.add_argument("--settle", default="0,0.1,1", help="settle_seconds values of the latency runs (default 0,0.1,1)")
    parser.add_argument("--passes", type=int, default=5, help="periodic rescan passes to time (default 5)")
    arguments = parser.parse_args()
    load_before = bench_report.load_average()
    work = pathlib.Path(tempfile.mkdtemp(prefix="dicomdrop-bench-targets."))
    try:
        lines = []
        for measure in ([lambda: peak_rss(work, arguments.rss_files), lambda: rescan(work, arguments.rescan_files, arguments.passes)]
                        + [lambda settle=float(s): latency(work, arguments.drops, settle) for s in arguments.settle.split(",")]):
            lines.append(measure())
            print(lines[-1], flush=True)
        lines.append(f"load average (1, 5, 15 min) before the run {load_before}, after it {bench_report.load_average()}")
        print(lines[-1])
        if arguments.document:
            text = "\n".join([bench_report.machine(DICOMDROP), ""] + [f"- {line}" for line in lines])
            bench_report.write_block(arguments.document, "bench-targets", "Issue 16's other targets (scripts/bench-targets)", text)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
