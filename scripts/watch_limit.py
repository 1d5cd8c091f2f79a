"""scripts/watch-limit: see that script."""
import glob
import os
import pathlib
import signal
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from event_storm import recorded  # noqa: E402  (files recorded in the ledger)

LIMIT = pathlib.Path("/proc/sys/fs/inotify/max_user_watches")


def watches_in_use() -> int:
    count = 0
    for path in glob.glob("/proc/[0-9]*/fdinfo/*"):
        try:
            count += sum(1 for line in open(path) if line.startswith("inotify wd:"))
        except OSError:
            pass
    return count


def wait_for(condition, seconds: float) -> float | None:
    start = time.time()
    while time.time() - start < seconds:
        if condition():
            return time.time() - start
        time.sleep(0.2)
    return None


def start(work: pathlib.Path) -> subprocess.Popen:
    log = open(work / "daemon.log", "a")
    daemon = subprocess.Popen([os.environ["DICOMDROP"], "--config", str(work / "watch.yaml")], stdout=log, stderr=log)
    if wait_for(lambda: "pending at start-up" in (work / "daemon.log").read_text(), 60) is None:
        raise SystemExit("the daemon did not start")
    return daemon


def stop(daemon: subprocess.Popen) -> int:
    daemon.send_signal(signal.SIGTERM)
    return daemon.wait(timeout=60)


def make(drop: pathlib.Path, first: int, count: int, files: int = 3) -> None:
    for index in range(first, first + count):
        folder = drop / f"unit{index:04d}" / "series"
        folder.mkdir(parents=True)
        for number in range(files):
            (folder / f"f{number}.txt").write_text(f"unit {index} file {number}\n")


def main() -> int:
    work, folders, headroom = pathlib.Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    drop = work / "drop"
    drop.mkdir()
    (work / "watch.yaml").write_text("drop: drop\noutput: out\ndatabase: ledger.sqlite\nsettle_seconds: 1\n"
                                     "rescan_seconds: 3600\nwatch:\n  mode: inotify\n  poll_seconds: 1\n")
    problems = []

    # 1. The limit met while the daemon runs.
    daemon = start(work)
    limit = watches_in_use() + headroom
    LIMIT.write_text(f"{limit}\n")
    make(drop, 0, folders)
    expected = folders * 3
    took = wait_for(lambda: recorded(work / "ledger.sqlite") == expected, 120)
    if stop(daemon) != 0:
        problems.append("phase 1: the daemon did not exit 0 on SIGTERM")
    text = (work / "daemon.log").read_text()
    said = text.count("watch limit is reached")
    if took is None:
        problems.append(f"phase 1: {recorded(work / 'ledger.sqlite')} of {expected} files recorded after 120 s")
    if said != 1 or "sysctl fs.inotify.max_user_watches" not in text:
        problems.append(f"phase 1: the watch limit was logged {said} times (once, with the sysctl, expected)")
    print(f"watch-limit: running daemon, limit {limit} ({headroom} above what was in use): {folders} new folders "
          f"(each with a subfolder); the limit logged {said} time(s); all {expected} files recorded {took or 0:.1f} s "
          "after the folders were made")

    # 2. Started on a tree larger than the limit.
    (work / "daemon.log").write_text("")
    LIMIT.write_text(f"{watches_in_use() + headroom}\n")
    daemon = start(work)
    text = (work / "daemon.log").read_text()
    fell_back = "watcher: poll every 1.0 s, because" in text and "max_user_watches" in text
    make(drop, folders, 5)
    expected += 15
    took = wait_for(lambda: recorded(work / "ledger.sqlite") == expected, 60)
    if stop(daemon) != 0:
        problems.append("phase 2: the daemon did not exit 0 on SIGTERM")
    if not fell_back:
        problems.append(f"phase 2: no fall-back to polling logged: {text[-1500:]}")
    if took is None:
        problems.append(f"phase 2: {recorded(work / 'ledger.sqlite')} of {expected} files recorded after 60 s")
    line = next((l for l in text.splitlines() if "watcher:" in l), "")
    print(f"watch-limit: started on {2 * folders + 1} folders with room for {headroom} watches: {line.split('] ', 1)[-1][:160]}; "
          f"5 folders dropped afterwards recorded in {took or 0:.1f} s")
    for problem in problems:
        print(f"  FAILED: {problem}")
    if problems:
        return 1
    print("watch-limit: the limit was logged once with its remedy and polling found every file")
    return 0


if __name__ == "__main__":
    sys.exit(main())
