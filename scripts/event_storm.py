"""scripts/event-storm: see that script."""
import os
import pathlib
import signal
import sqlite3
import subprocess
import sys
import time


def recorded(database: pathlib.Path) -> int:
    try:
        with sqlite3.connect(database) as db:
            return db.execute("SELECT count(*) FROM sources").fetchone()[0]
    except sqlite3.Error:
        return 0


def main() -> int:
    work, files, folders = pathlib.Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    limit = int(pathlib.Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    drop = work / "drop"
    for folder in range(folders):
        (drop / f"unit{folder:04d}").mkdir(parents=True)
    config = work / "watch.yaml"
    config.write_text("drop: drop\noutput: out\ndatabase: ledger.sqlite\nsettle_seconds: 2\nrescan_seconds: 3600\n"
                      "watch:\n  mode: inotify\n")
    log = open(work / "daemon.log", "w")
    daemon = subprocess.Popen([os.environ["DICOMDROP"], "--config", str(config)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while "watching" not in (work / "daemon.log").read_text() and time.time() < deadline:
        time.sleep(0.1)

    daemon.send_signal(signal.SIGSTOP)
    start = time.perf_counter()
    for index in range(files):
        (drop / f"unit{index % folders:04d}" / f"f{index:06d}.txt").write_text(f"file {index}\n")
    burst = time.perf_counter() - start
    daemon.send_signal(signal.SIGCONT)

    start = time.perf_counter()
    deadline = time.time() + 600
    while recorded(work / "ledger.sqlite") < files and time.time() < deadline:
        time.sleep(0.5)
    caught_up = time.perf_counter() - start
    time.sleep(3)  # settle_seconds and a tick: a late run would show in the log
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=60)
    text = (work / "daemon.log").read_text()
    overflows = text.count("event queue overflowed")
    runs = text.count("run done:")
    count = recorded(work / "ledger.sqlite")
    print(f"event-storm: {files} files in {folders} folders created in {burst:.1f} s while the daemon was stopped "
          f"(max_queued_events {limit}); overflow warnings {overflows}; {count} files recorded "
          f"{caught_up:.1f} s after SIGCONT; {runs} runs")
    problems = []
    if overflows != 1:
        problems.append(f"the overflow was logged {overflows} times, not once")
    if "sysctl fs.inotify.max_queued_events" not in text:
        problems.append("the remedy (the sysctl) was not logged")
    if count != files:
        problems.append(f"{files - count} files missed")
    if runs < folders:
        problems.append(f"{runs} runs for {folders} folders")
    for problem in problems:
        print(f"  FAILED: {problem}")
    if problems:
        print(text[-3000:])
        return 1
    print("event-storm: the overflow was logged once with its remedy and every file was found")
    return 0


if __name__ == "__main__":
    sys.exit(main())
