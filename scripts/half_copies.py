"""scripts/half-copies: see that script."""
import hashlib
import os
import pathlib
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from chaos_kill import templates  # noqa: E402  (the same corpus images)

from pydicom.uid import generate_uid  # noqa: E402

DICOMDROP = os.environ["DICOMDROP"]
SETTLE = 2.0


class Images:
    """Distinct DICOM images as bytes (new UIDs each)."""

    def __init__(self, scratch: pathlib.Path):
        self.sources = templates()
        self.scratch = scratch
        self.serial = 0

    def next(self) -> bytes:
        self.serial += 1
        ds = self.sources[self.serial % len(self.sources)]
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[f"half{self.serial}"])
        path = self.scratch / "image.dcm"
        ds.save_as(path, enforce_file_format=True)
        return path.read_bytes()


class Ledger:
    def __init__(self, path: pathlib.Path):
        self.path = path

    def query(self, sql: str, *args) -> list:
        for _ in range(50):
            try:
                with sqlite3.connect(self.path) as db:
                    return db.execute(sql, args).fetchall()
            except sqlite3.Error:
                time.sleep(0.1)
        raise SystemExit(f"the ledger {self.path} stayed unreadable")

    def sources(self, unit: str) -> dict:
        return dict(self.query("SELECT path, sha256 FROM sources WHERE unit = ?", unit))

    def state(self, unit: str):
        rows = self.query("SELECT state FROM units WHERE name = ?", unit)
        return rows[0][0] if rows else None

    def runs(self, unit: str) -> list:
        return self.query("SELECT outcome, files_seen, files_new, files_failed FROM runs WHERE unit = ? ORDER BY id", unit)

    def failed_contents(self) -> list:
        return self.query("SELECT sha256, reason FROM contents WHERE outcome = 'failed'")


def wait(condition, seconds: float) -> float | None:
    """Seconds until `condition` held, or None after `seconds`."""
    start = time.time()
    while time.time() - start < seconds:
        if condition():
            return time.time() - start
        time.sleep(0.1)
    return None


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def main() -> int:
    work, seconds = pathlib.Path(sys.argv[1]), float(sys.argv[2])
    drop, elsewhere = work / "drop", work / "elsewhere"
    drop.mkdir()
    elsewhere.mkdir()
    images = Images(work)
    (work / "watch.yaml").write_text(f"drop: {drop}\noutput: out\ndatabase: ledger.sqlite\nsettle_seconds: {SETTLE}\n"
                                     "rescan_seconds: 3600\nworkers: 2\nwatch:\n  mode: inotify\n"
                                     f"deidentify:\n  key_file: {work}/key\n  map_database: pseudonyms.sqlite\n")
    log = open(work / "daemon.log", "w")
    daemon = subprocess.Popen([DICOMDROP, "--config", str(work / "watch.yaml")], stdout=log, stderr=log)
    ledger = Ledger(work / "ledger.sqlite")
    problems: list[str] = []
    results: list[str] = []

    def done(unit: str, expected: dict) -> bool:
        return ledger.state(unit) == "done" and ledger.sources(unit) == expected

    if wait(lambda: "watching" in (work / "daemon.log").read_text(), 30) is None:
        raise SystemExit("the daemon did not start")

    # 1. A slow copy: ten files one after the other over `seconds`, each written in pieces.
    folder = drop / "slow"
    folder.mkdir()
    expected = {}
    pieces = 6
    pause = seconds / 10 / pieces
    for index in range(10):
        data = images.next()
        path = folder / f"{index}.dcm"
        with open(path, "wb") as f:
            step = len(data) // pieces + 1
            for offset in range(0, len(data), step):
                f.write(data[offset:offset + step])
                f.flush()
                time.sleep(pause)
        expected[f"slow/{index}.dcm"] = sha(data)
    copied = time.time()
    took = wait(lambda: done("slow", expected), 60)
    runs = ledger.runs("slow")
    if took is None:
        problems.append(f"slow copy: not recorded whole within 60 s: runs {runs}")
    elif [r[0] for r in runs] != ["done"] or runs[0][1] != 10:
        problems.append(f"slow copy: expected one run of all 10 files after the copy, got {runs}")
    results.append(f"slow copy of 10 files over {seconds:g} s: one run of all 10, recorded {took or 0:.1f} s after the last byte")

    # 2. A file truncated and rewritten with other bytes while its folder settles.
    folder = drop / "rewritten"
    folder.mkdir()
    first, second = images.next(), images.next()
    (folder / "a.dcm").write_bytes(first)
    time.sleep(SETTLE / 4)
    with open(folder / "a.dcm", "r+b") as f:
        f.truncate(0)
    time.sleep(SETTLE / 4)
    (folder / "a.dcm").write_bytes(second)
    took = wait(lambda: done("rewritten", {"rewritten/a.dcm": sha(second)}), 30)
    if took is None or ledger.query("SELECT count(*) FROM contents WHERE sha256 = ?", sha(first))[0][0] != 0:
        problems.append(f"rewritten file: {ledger.sources('rewritten')} (first bytes recorded: "
                        f"{ledger.query('SELECT count(*) FROM contents WHERE sha256 = ?', sha(first))[0][0]})")
    results.append("file truncated and rewritten while settling: only the final bytes recorded, the first never read")

    # 3. A folder renamed while it settles.
    (drop / "incoming").mkdir()
    data = images.next()
    (drop / "incoming" / "b.dcm").write_bytes(data)
    time.sleep(SETTLE / 2)
    os.rename(drop / "incoming", drop / "renamed")
    took = wait(lambda: done("renamed", {"renamed/b.dcm": sha(data)}), 30)
    if took is None or ledger.state("incoming") is not None or ledger.runs("incoming"):
        problems.append(f"renamed folder: renamed {ledger.sources('renamed')}, incoming state {ledger.state('incoming')} "
                        f"runs {ledger.runs('incoming')}")
    results.append("folder renamed while settling: processed under its new name, the old name never run nor kept")

    # 4. A folder made elsewhere and moved in: one IN_MOVED_TO, no write events.
    staged = elsewhere / "moved"
    staged.mkdir()
    expected = {}
    for index in range(5):
        data = images.next()
        (staged / f"{index}.dcm").write_bytes(data)
        expected[f"moved/{index}.dcm"] = sha(data)
    os.rename(staged, drop / "moved")
    took = wait(lambda: done("moved", expected), 30)
    if took is None:
        problems.append(f"moved-in folder: {ledger.sources('moved')}")
    results.append(f"folder moved in whole: recorded {took or 0:.1f} s after the rename (settle {SETTLE:g} s)")

    # 5. A folder deleted while its run is under way.
    staged = elsewhere / "doomed"
    staged.mkdir()
    for index in range(400):
        (staged / f"{index}.dcm").write_bytes(images.next())
    os.rename(staged, drop / "doomed")
    started = wait(lambda: len(ledger.sources("doomed")) > 0, 60)
    recorded_before = len(ledger.sources("doomed"))
    shutil.rmtree(drop / "doomed")
    gone = wait(lambda: ledger.state("doomed") in ("done", None) and not ledger.sources("doomed")
                and not any(r[0] is None for r in ledger.runs("doomed")), 60)
    unreadable = ledger.query("SELECT count(*) FROM unreadable")[0][0]
    if started is None or gone is None or unreadable:
        problems.append(f"deleted mid-run: started {started}, forgotten {gone}, runs {ledger.runs('doomed')}, "
                        f"unreadable rows {unreadable}")
    results.append(f"folder deleted mid-run ({recorded_before} of 400 files recorded when it went): its paths forgotten "
                   f"{gone or 0:.1f} s later, no file failed or unreadable")

    if ledger.failed_contents():
        problems.append(f"failed contents: {ledger.failed_contents()[:3]}")
    if daemon.poll() is not None:
        problems.append(f"the daemon exited with {daemon.returncode}")
    else:
        daemon.send_signal(signal.SIGTERM)
        if daemon.wait(timeout=60) != 0:
            problems.append(f"the daemon exited with {daemon.returncode} on SIGTERM")
    log.close()
    errors = [line for line in open(work / "daemon.log", errors="replace") if " error " in line]
    if errors:
        problems.append(f"{len(errors)} error log line(s), e.g. {errors[0].strip()}")
    for result in results:
        print(f"half-copies: {result}")
    for problem in problems:
        print(f"  PROBLEM: {problem}")
    if problems:
        print((work / "daemon.log").read_text()[-3000:])
        return 1
    print("half-copies: every file recorded once with its final bytes, nothing failed, the daemon kept running")
    return 0


if __name__ == "__main__":
    sys.exit(main())
