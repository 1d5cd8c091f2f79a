"""scripts/soak: see that script."""
import hashlib
import os
import pathlib
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from bench_daemon import templates  # noqa: E402  (the corpus images chaos-kill uses too)

from pydicom.uid import generate_uid  # noqa: E402

DICOMDROP = os.environ["DICOMDROP"]


def write_config(root: pathlib.Path, drop: pathlib.Path, key: pathlib.Path) -> pathlib.Path:
    path = root / "watch.yaml"
    path.write_text(f"drop: {drop}\noutput: out\ndatabase: ledger.sqlite\nsettle_seconds: 1\nrescan_seconds: 60\n"
                    f"workers: 2\nwatch:\n  mode: inotify\n"
                    f"deidentify:\n  key_file: {key}\n  map_database: pseudonyms.sqlite\n")
    return path


class Dropper:
    """Makes the drop's folders: distinct images (new UIDs), a copy of an earlier file, a
    truncated image and a file that is not DICOM each."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.sources = templates()
        self.written: list[pathlib.Path] = []
        self.serial = 0

    def fill(self, folder: pathlib.Path, images: int = 8) -> None:
        folder.mkdir(parents=True)
        for _ in range(images):
            self.serial += 1
            ds = self.sources[self.serial % len(self.sources)]
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[f"soak{self.serial}"])
            target = folder / f"{self.serial:06d}.dcm"
            ds.save_as(target, enforce_file_format=True)
            self.written.append(target)
        if len(self.written) > images:
            earlier = self.rng.choice(self.written[:-images])
            if earlier.exists():
                shutil.copyfile(earlier, folder / "copy.dcm")
        data = self.written[-1].read_bytes()
        (folder / "truncated.dcm").write_bytes(data[: len(data) * 2 // 3])
        (folder / "notes.txt").write_text(f"not DICOM {self.serial}\n")


def sample(pid: int) -> tuple[float, int, int]:
    """RSS in MiB, open descriptors, threads of a live process."""
    status = pathlib.Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss = int(fields["VmRSS"].split()[0]) / 1024
    threads = int(fields["Threads"])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, fds, threads


def idle(root: pathlib.Path, folders: list[str], deadline: float) -> bool:
    """Every surviving folder is done and no deleted one is still recorded."""
    while time.time() < deadline:
        try:
            with sqlite3.connect(root / "ledger.sqlite") as db:
                states = dict(db.execute("SELECT name, state FROM units"))
                paths = {row[0] for row in db.execute("SELECT path FROM sources")}
                unreadable = db.execute("SELECT count(*) FROM unreadable").fetchone()[0]
        except sqlite3.Error:
            time.sleep(0.5)
            continue
        present = {str(p.relative_to(root / "drop")) for f in folders for p in (root / "drop" / f).rglob("*") if p.is_file()}
        if all(states.get(f) == "done" for f in folders) and paths == present and unreadable == 0:
            return True
        time.sleep(0.5)
    return False


def per_file(root: pathlib.Path) -> dict:
    """For every recorded path: the outcome of its content, the reason, the bucket and the
    content's outputs with their SHA-256."""
    with sqlite3.connect(root / "ledger.sqlite") as db:
        contents = {row[0]: row[1:] for row in db.execute("SELECT sha256, outcome, reason, bucket FROM contents")}
        outputs: dict = {}
        for path, sha in db.execute("SELECT path, sha256 FROM outputs"):
            digest = hashlib.sha256((root / "out" / path).read_bytes()).hexdigest() if (root / "out" / path).exists() else "MISSING"
            outputs.setdefault(sha, []).append((path, digest))
        return {path: (contents.get(sha), sorted(outputs.get(sha, [])))
                for path, sha in db.execute("SELECT path, sha256 FROM sources")}


def main() -> int:
    work, seconds, interval, seed = pathlib.Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    rng = random.Random(seed)
    dropper = Dropper(rng)
    key = work / "deidentify.key"
    soak = work / "soak"
    drop = soak / "drop"
    drop.mkdir(parents=True)
    staging = work / "staging"
    staging.mkdir()
    configuration = write_config(soak, drop, key)
    log = open(soak / "daemon.log", "w")
    daemon = subprocess.Popen([DICOMDROP, "--config", str(configuration)], stdout=log, stderr=log)
    every = min(60.0, max(seconds / 6, 5.0))
    samples = []
    folders: list[str] = []
    deleted: list[str] = []
    reprocessed = 0
    problems = []
    start = time.time()
    next_sample = start + 2
    drops = 0
    while time.time() - start < seconds:
        name = f"f{drops:05d}"
        if drops % 2:
            dropper.fill(drop / name)                 # written in place, file by file
        else:
            dropper.fill(staging / name)              # made elsewhere, moved in whole
            os.rename(staging / name, drop / name)
        folders.append(name)
        if drops % 6 == 5:
            victim = rng.choice(folders[:-1])
            shutil.rmtree(drop / victim)
            folders.remove(victim)
            deleted.append(victim)
        if drops % 7 == 6:
            target = rng.choice(folders[:-1])
            result = subprocess.run([DICOMDROP, "--config", str(configuration), "--reprocess", target],
                                    capture_output=True, text=True)
            if result.returncode != 0:
                problems.append(f"--reprocess {target} exited {result.returncode}: {result.stderr[-500:]}")
            reprocessed += 1
        drops += 1
        deadline = start + drops * interval
        while time.time() < deadline:
            if daemon.poll() is not None:
                problems.append(f"the daemon exited with {daemon.returncode} at {time.time() - start:.0f} s")
                break
            if time.time() >= next_sample:
                samples.append((time.time() - start, *sample(daemon.pid)))
                next_sample += every
            time.sleep(0.1)
        if daemon.poll() is not None:
            break

    if daemon.poll() is None and not idle(soak, folders, time.time() + 180):
        problems.append("the daemon did not finish the surviving folders within 180 s of the last drop")
    if daemon.poll() is None:
        samples.append((time.time() - start, *sample(daemon.pid)))
        daemon.send_signal(signal.SIGTERM)
        if daemon.wait(timeout=60) != 0:
            problems.append(f"the daemon exited with {daemon.returncode} on SIGTERM")
    log.close()

    # The reference: one fresh run over a copy of the surviving folders, same key.
    reference = work / "reference"
    shutil.copytree(drop, reference / "drop")
    result = subprocess.run([DICOMDROP, "--config", str(write_config(reference, reference / "drop", key)), "--once"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        problems.append(f"the reference run failed: {result.stderr[-500:]}")
    expected, actual = per_file(reference), per_file(soak)
    if set(expected) != set(actual):
        problems.append(f"recorded paths differ: {len(set(expected) - set(actual))} missing, "
                        f"{len(set(actual) - set(expected))} extra (e.g. {sorted(set(actual) ^ set(expected))[:3]})")
    differing = sorted(p for p in set(expected) & set(actual) if expected[p] != actual[p])
    if differing:
        problems.append(f"{len(differing)} file(s) with another outcome or outputs than the fresh run's, e.g. "
                        f"{differing[0]}: {actual[differing[0]]} vs {expected[differing[0]]}")
    with sqlite3.connect(soak / "ledger.sqlite") as db:
        runs = dict(db.execute("SELECT outcome, count(*) FROM runs GROUP BY outcome"))
    errors = sum(1 for line in open(soak / "daemon.log", errors="replace") if " error " in line)

    print("soak: minute  RSS MiB  fds  threads")
    for at, rss, fds, threads in samples:
        print(f"soak: {at / 60:6.1f}  {rss:7.1f}  {fds:3d}  {threads:7d}")
    if len(samples) >= 3:
        # The first sample is taken before any work; flatness is judged from the second on.
        settled, last = samples[1], samples[-1]
        if last[1] > settled[1] * 1.25 + 8:
            problems.append(f"RSS grew from {settled[1]:.1f} to {last[1]:.1f} MiB")
        if last[2] > settled[2] + 2:
            problems.append(f"open descriptors grew from {settled[2]} to {last[2]}")
        if last[3] > settled[3] + 2:
            problems.append(f"threads grew from {settled[3]} to {last[3]}")
    files = sum(1 for p in drop.rglob("*") if p.is_file())
    print(f"soak: {seconds:.0f} s, a folder every {interval:g} s: {drops} folders dropped, {len(deleted)} deleted, "
          f"{reprocessed} reprocessed beside the daemon; {files} files survive; runs {runs}; {errors} error log lines "
          f"(truncated images)")
    for problem in problems:
        print(f"  PROBLEM: {problem}")
    if problems:
        return 1
    print("soak: RSS, descriptors and threads flat; every surviving file has the fresh run's outcome and outputs; "
          "deleted folders forgotten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
