"""The measurement behind scripts/bench-cold-drop (see there): dicomdrop --once over a drop
read from the disk, and over the same drop read from the page cache. Python is the harness
only; dicomdrop runs as its binary."""
import argparse
import os
import pathlib
import shutil
import signal
import statistics
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).parent))
os.environ.setdefault("RENDER_BENCH", "")  # bench_peers reads it at import; unused here
import bench_daemon  # noqa: E402
import bench_peers  # noqa: E402
from bench_peers import DICOMDROP, fresh_output, timed  # noqa: E402


def evict(files) -> None:
    """Writes the files back (only clean pages can be dropped) and drops their pages."""
    os.sync()
    for path in files:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(descriptor)


def evictable(folder: pathlib.Path) -> bool:
    """Whether a file written in `folder`, synced and evicted, leaves the page cache."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".evict-probe.") as probe:
            probe.write(b"\x07" * (64 << 10))
            probe.flush()
            path = pathlib.Path(probe.name)
            evict([path])
            return resident_fraction([path]) == 0
    except OSError:
        return False


def resident_fraction(files) -> float:
    """The share of the files' pages in the page cache, by mincore of a mapping (reads nothing)."""
    import ctypes
    import mmap
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    page = mmap.PAGESIZE
    resident = total = 0
    for path in files:
        size = path.stat().st_size
        if size == 0:
            continue
        descriptor = os.open(path, os.O_RDONLY)
        try:
            address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, descriptor, 0)
            pages = (size + page - 1) // page
            vector = ctypes.create_string_buffer(pages)
            if libc.mincore(address, size, vector) != 0:
                raise OSError(ctypes.get_errno(), "mincore")
            libc.munmap(address, size)
        finally:
            os.close(descriptor)
        resident += sum(byte & 1 for byte in vector.raw)
        total += pages
    return resident / total if total else 0.0


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(prog="bench-cold-drop")
    parser.add_argument("files", nargs="?", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    # The drop must be on a filesystem that drops clean pages on request: the temporary
    # directory when it does, else the build folder (a tmpfs /tmp keeps its pages: they are
    # the files).
    candidates = [pathlib.Path(tempfile.gettempdir()), pathlib.Path(__file__).resolve().parent.parent / ".build"]
    parent = next((folder for folder in candidates if evictable(folder)), None)
    if parent is None:
        raise SystemExit("bench-cold-drop: neither " + " nor ".join(map(str, candidates)) +
                         " drops its pages on POSIX_FADV_DONTNEED: set TMPDIR to a folder on a disk")
    root = pathlib.Path(tempfile.mkdtemp(prefix="dicomdrop-bench-cold-drop.", dir=parent))
    try:
        files, description = bench_peers.make_mixed_drop(root, arguments.files, "ct-mr")
        paths = [path for path, _ in files]
        drop = root / "drop" / "bench"
        evict(paths)
        if resident_fraction(paths) > 0.05:
            raise SystemExit(f"bench-cold-drop: {root} kept its pages after POSIX_FADV_DONTNEED")
        results = {"cold": [], "warm": []}
        for turn in range(1, arguments.rounds + 1):
            for kind in ("cold", "warm"):
                if kind == "cold":
                    evict(paths)
                else:
                    bench_daemon.warm(root)
                before = resident_fraction(paths)
                out = fresh_output(root, f"{turn}-{kind}")
                bench_peers.settle_writes()
                wall, cpu, peak = timed(bench_peers.peer_dicomdrop(root, drop, None, out))
                pngs = bench_peers.count_pngs(out)
                if pngs != len(paths):
                    raise SystemExit(f"bench-cold-drop: {pngs} PNGs of {len(paths)} ({kind}, round {turn})")
                results[kind].append((wall, cpu))
                print(f"round {turn}/{arguments.rounds}, {kind} ({before:.0%} of the drop in the page cache before): "
                      f"{wall:.2f} s, CPU {cpu:.2f} s", file=sys.stderr, flush=True)
        megabytes = sum(path.stat().st_size for path in paths) / 1e6
        line = {}
        for kind, runs in results.items():
            wall = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            line[kind] = wall
            print(f"{kind}: {len(paths)} files ({megabytes:.0f} MB) in {wall:.2f} s (median of {len(runs)}), "
                  f"{len(paths) / wall:.0f} files/s, CPU {cpu:.2f} s")
        print(f"cold/warm wall: {line['cold'] / line['warm']:.2f}x; {description}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
