"""scripts/chaos-kill: see that script."""
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
import warnings

from pydicom.uid import generate_uid

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from bench_daemon import templates  # noqa: E402  (the corpus's uncompressed CT and MR images)

DICOMDROP = os.environ["DICOMDROP"]
# Seconds between a start and its SIGKILL, drawn from this range: CHAOS_DELAY="0.5-3" spreads
# the kills over more of the work, at the price of fewer kills per campaign inside runs.
DELAY = tuple(float(x) for x in os.environ.get("CHAOS_DELAY", "0.05-0.4").split("-"))
warnings.simplefilter("ignore")


def make_drop(drop: pathlib.Path, count: int, rng: random.Random) -> int:
    """`count` files in ten folders: mostly distinct images, and about 2% each of copies
    (same bytes, another name), truncated images and files that are not DICOM."""
    sources = templates()
    written = []
    for index in range(count):
        folder = drop / f"study{index % 10:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{index:06d}.dcm"
        kind = rng.random()
        if kind < 0.02 and written:
            shutil.copyfile(rng.choice(written), target)
        elif kind < 0.04:
            target.write_text(f"not DICOM {index}\n")
        else:
            ds = sources[index % len(sources)]
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[str(index)])
            ds.save_as(target, enforce_file_format=True)
            if kind < 0.06:
                data = target.read_bytes()
                target.write_bytes(data[: len(data) * 2 // 3])  # truncated inside Pixel Data
            else:
                written.append(target)
    return count


def config(root: pathlib.Path, drop: pathlib.Path, key: pathlib.Path, capacity: int) -> pathlib.Path:
    path = root / "watch.yaml"
    path.write_text(f"drop: {drop}\noutput: out\ndatabase: ledger.sqlite\nsettle_seconds: 0\nworkers: 2\n"
                    f"deidentify:\n  key_file: {key}\n  map_database: pseudonyms.sqlite\n"
                    + (f"buckets:\n  capacity: {capacity}\n  naming: sequence\n" if capacity else ""))
    return path


def once(configuration: pathlib.Path) -> None:
    result = subprocess.run([DICOMDROP, "--config", str(configuration), "--once"], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"dicomdrop --once failed ({result.returncode}):\n{result.stderr[-3000:]}")


def outputs(root: pathlib.Path, capacity: int) -> dict:
    """Output files and their SHA-256. With a capacity, which directory of its bucket an
    image lands in follows the order the workers finished in, so files are compared by
    bucket and name (the directories' counts are checked on their own); manifests list
    their directory's images and are left out for the same reason."""
    def key(path: pathlib.Path) -> str:
        relative = path.relative_to(root / "out")
        if not capacity:
            return str(relative)
        return f"{bucket_of(relative.parts[0])}/{relative.name}"
    return {key(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (root / "out").rglob("*") if p.is_file() and not (capacity and p.name == "manifest.csv")}


def bucket_of(directory: str) -> str:
    """`small-0002` → `small` (naming: sequence)."""
    head, _, tail = directory.rpartition("-")
    return head if head and tail.isdigit() and len(tail) == 4 else directory


def without(cursor, column: str) -> list:
    """The cursor's rows without `column`, sorted."""
    names = [description[0] for description in cursor.description]
    return sorted((tuple(v for n, v in zip(names, row) if n != column) for row in cursor), key=repr)


def directory_counts(root: pathlib.Path) -> dict:
    """Images (JSON sidecars, one per instance) per bucket directory."""
    counts = {}
    for sidecar in (root / "out").rglob("*.json"):
        directory = sidecar.relative_to(root / "out").parts[0]
        counts[directory] = counts.get(directory, 0) + 1
    return counts


def ledger(root: pathlib.Path, capacity: int) -> dict:
    """The rows that must not depend on how often the work was interrupted. Left out: runs
    and timestamps, `contents.unit`, the unit whose run met a content first, which follows
    the order units were run in, not the crashes, and devices' ids, numbered in the order
    devices were met (series are compared by their device's key). With a capacity, output
    paths are compared by their file name (see `outputs`)."""
    path = "substr(path, instr(path, '/') + 1)" if capacity else "path"
    output = "substr(output, instr(output, '/') + 1)" if capacity else "output"
    with sqlite3.connect(root / "ledger.sqlite") as db:
        return {
            "sources": sorted(db.execute("SELECT path, unit, sha256 FROM sources")),
            "contents": sorted(db.execute("SELECT sha256, outcome, reason, bucket FROM contents")),
            "outputs": sorted(db.execute(f"SELECT {path}, sha256 FROM outputs")),
            "image_quality": sorted(db.execute(f"SELECT {output}, sha256, frame, suboptimal, reason FROM image_quality")),
            "units": sorted(db.execute("SELECT name, state FROM units")),
            "instances": sorted(db.execute("SELECT * FROM instances"), key=repr),
            "series": without(db.execute("SELECT s.*, d.device_key FROM series s LEFT JOIN devices d ON d.id = s.device_id"),
                              "device_id"),
            "studies": sorted(db.execute("SELECT * FROM studies"), key=repr),
            "patients": sorted(db.execute("SELECT * FROM patients"), key=repr),
            "devices": sorted(db.execute("SELECT device_key FROM devices")),
        }


def main() -> int:
    work, count, kills, seed = pathlib.Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    capacity = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    rng = random.Random(seed)
    drop = work / "drop"
    make_drop(drop, count, rng)
    os.sync()
    key = work / "deidentify.key"

    reference = work / "reference"
    reference.mkdir()
    start = time.perf_counter()
    once(config(reference, drop, key, capacity))
    uninterrupted = time.perf_counter() - start

    chaos = work / "chaos"
    chaos.mkdir()
    configuration = config(chaos, drop, key, capacity)
    landed = 0  # kills that found the process still running
    progress = []  # sources recorded after each kill
    for _ in range(kills):
        process = subprocess.Popen([DICOMDROP, "--config", str(configuration), "--once"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(*DELAY))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            landed += 1
        process.wait()
        if (chaos / "ledger.sqlite").exists():
            try:
                with sqlite3.connect(chaos / "ledger.sqlite") as db:
                    progress.append(db.execute("SELECT count(*) FROM sources").fetchone()[0])
            except sqlite3.OperationalError:
                progress.append(0)  # killed after the file was made, before its tables were
    once(configuration)
    with sqlite3.connect(chaos / "ledger.sqlite") as db:
        interrupted = db.execute("SELECT count(*) FROM runs WHERE outcome = 'interrupted'").fetchone()[0]
    # Killed runs that had recorded some work of their own: the crash test means something
    # only if many kills land in the middle of the work, not before it starts.
    mid_work = sum(1 for before, after in zip([0] + progress, progress) if after > before)

    problems = []
    temporaries = [str(p) for p in (chaos / "out").rglob("*") if ".dicomdrop-tmp-" in p.name]
    if temporaries:
        problems.append(f"{len(temporaries)} temporary output(s) left, e.g. {temporaries[:3]}")
    expected, actual = outputs(reference, capacity), outputs(chaos, capacity)
    if expected != actual:
        missing = sorted(set(expected) - set(actual))
        extra = sorted(set(actual) - set(expected))
        changed = sorted(p for p in set(expected) & set(actual) if expected[p] != actual[p])
        problems.append(f"outputs differ: {len(missing)} missing {missing[:3]}, {len(extra)} extra {extra[:3]}, "
                        f"{len(changed)} changed {changed[:3]}")
    expected_ledger, actual_ledger = ledger(reference, capacity), ledger(chaos, capacity)
    if capacity:
        # Each bucket's directories fill in turn: never more than the capacity, and the
        # same counts as the uninterrupted run (every place taken belongs to a file of the
        # drop, processed in the end).
        counts, reference_counts = directory_counts(chaos), directory_counts(reference)
        over = {d: n for d, n in counts.items() if n > capacity}
        if over:
            problems.append(f"directories over the capacity of {capacity}: {over}")
        if sorted(counts.items()) != sorted(reference_counts.items()):
            problems.append(f"directory counts {sorted(counts.items())} differ from the uninterrupted run's "
                            f"{sorted(reference_counts.items())}")
    for table in expected_ledger:
        if expected_ledger[table] != actual_ledger[table]:
            difference = sorted(set(expected_ledger[table]) ^ set(actual_ledger[table]))
            problems.append(f"ledger table {table} differs: {len(difference)} row(s), e.g. {difference[:3]}")
    files = sum(1 for p in drop.rglob("*") if p.is_file())
    recorded = actual_ledger["sources"]
    known = {row[0] for row in actual_ledger["contents"]}
    if len(recorded) != files or any(sha not in known for _, _, sha in recorded):
        problems.append(f"{files} files in the drop, {len(recorded)} sources recorded, "
                        f"{sum(sha not in known for _, _, sha in recorded)} without an outcome")
    outcomes = {}
    for row in actual_ledger["contents"]:
        outcomes[row[1]] = outcomes.get(row[1], 0) + 1
    print(f"chaos-kill: {count} files, {kills} SIGKILLs ({landed} while running), seed {seed}; "
          f"uninterrupted run {uninterrupted:.1f} s; outcomes {dict(sorted(outcomes.items()))}; "
          f"{len(actual)} outputs")
    print(f"chaos-kill: {mid_work} of the killed runs had recorded files of their own before the kill; "
          f"{interrupted} runs found open at a restart and closed as interrupted; files recorded before the "
          f"last run: {progress[-1] if progress else 0} of {files}")
    for problem in problems:
        print(f"  DIFFERS: {problem}")
    if problems:
        return 1
    print("chaos-kill: outputs and ledger equal the uninterrupted run's; no temporary left; one outcome per file")
    return 0


if __name__ == "__main__":
    sys.exit(main())
