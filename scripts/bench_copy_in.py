"""The measurement behind scripts/bench-copy-in (see there): the daemon's CPU while a folder
is copied into the drop file by file, as a slow network copy fills it. Python is the harness
only; dicomdrop runs as its binary."""
import argparse
import pathlib
import re
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from bench_targets import PLACEHOLDER, Daemon, count_pngs, small_templates, unique_uid, write_config  # noqa: E402


def copy_in(work: pathlib.Path, files: int, interval: float, settle: float) -> str:
    root = work / f"copy-{settle:g}"
    (root / "drop").mkdir(parents=True)
    write_config(root, "rescan_seconds: 3600\n", settle=settle)
    templates = small_templates()
    daemon = Daemon(root / "watch.yaml", root / "daemon.log", ready_within=60)
    try:
        before = daemon.cpu_seconds()
        folder = root / "drop" / "study"
        folder.mkdir()
        start = time.perf_counter()
        for index in range(files):
            # Written in place, as cp or a network copy writes: the unit sees every file grow.
            (folder / f"{index:06d}.dcm").write_bytes(templates[index % 2].replace(PLACEHOLDER.encode(), unique_uid(4, index)))
            time.sleep(interval)
        copied = time.perf_counter() - start
        deadline = time.perf_counter() + settle + 120
        while count_pngs(root / "out") < files:
            if daemon.process.poll() is not None:
                raise RuntimeError(f"dicomdrop exited ({daemon.process.returncode}): {daemon.text()[-2000:]}")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"only {count_pngs(root / 'out')} PNGs of {files} within {settle + 120:g} s: {daemon.text()[-2000:]}")
            time.sleep(0.01)
        done = time.perf_counter() - start
        # Every file's record closed: the runs' new= counts add up to the files.
        daemon.wait_until(lambda text: sum(int(n) for n in re.findall(r"run done: .* new=(\d+)", text)) >= files,
                          "run records of every file", 60)
        cpu = daemon.cpu_seconds() - before
    finally:
        daemon.stop()
    runs = daemon.text().count("run done:")
    return (f"copy-in, {files} files written one by one {interval * 1000:g} ms apart into one folder, settle_seconds {settle:g}: "
            f"daemon CPU {cpu:.2f} s ({cpu / files * 1000:.2f} ms a file), the copy {copied:.1f} s, "
            f"last PNG {done - copied:.2f} s after the copy ended, {runs} run(s)")


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(prog="bench-copy-in")
    parser.add_argument("files", nargs="?", type=int, default=2000)
    parser.add_argument("--interval", type=float, default=0.002, help="seconds between files (default 0.002)")
    parser.add_argument("--settle", default="1,5", help="settle_seconds values (default 1,5)")
    arguments = parser.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="dicomdrop-bench-copy-in."))
    try:
        for settle in (float(value) for value in arguments.settle.split(",")):
            print(copy_in(work, arguments.files, arguments.interval, settle), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
