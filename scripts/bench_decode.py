"""The peer side of the decode benchmark: pydicom + pylibjpeg decoding every frame of the
corpus's compressed images, one core, by transfer syntax. dicomdrop's side (a Swift harness)
times the same files and writes the same JSON.

    python3 scripts/bench_decode.py CORPUS_DIR [--repeat N] [--json OUT] [--lossless-jpeg-only]

The files: the entries of CORPUS_DIR/pixel-oracle.json with "compressed": true, status "ok"
and decoder "pydicom" (so not the point-transformed lossless JPEG that pylibjpeg-libjpeg
decodes wrongly, not Deflated Image Frame Compression that pydicom 3.0.2 cannot decode, not
RLE, which is not "compressed" there). Every file is read, and decoded once to warm up,
before any timing.
  default               times pydicom.pixels.pixel_array(ds, raw=True): pylibjpeg's decoding
                        plus pydicom's frame extraction and array assembly
  --lossless-jpeg-only  only JPEG Lossless (.57, .70), timing libjpeg.decode (pylibjpeg-libjpeg)
                        on each frame's codestream, extracted beforehand: the codec alone, the
                        number the Swift lossless decoder's 1.5x target is measured against
Each file is decoded N times (--repeat, default 5); its time is the fastest of them.
One core: OMP/OpenBLAS/MKL threads are set to 1 before numpy loads and the process is pinned
to one CPU.

Output (printed, and written to --json OUT), keyed by Transfer Syntax UID, plus "total":
  {"1.2.840.10008.1.2.4.57": {"frames": n, "megapixels": x, "seconds": s, "mp_per_s": r}, ...}
  frames      frames decoded in one pass over the files
  megapixels  rows x columns x frames / 1e6 of one pass (pixels, not samples)
  seconds     the sum over the files of each file's fastest decode
  mp_per_s    megapixels / seconds
Python is a benchmark peer only: the product never runs it.
"""
import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402 (the thread counts must be set before numpy loads)
import gc  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import pydicom  # noqa: E402
from pydicom.encaps import generate_frames  # noqa: E402
from pydicom.pixels import pixel_array  # noqa: E402

warnings.simplefilter("ignore")
LOSSLESS_JPEG = ("1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70")


def selected(corpus: pathlib.Path, lossless_jpeg_only: bool):
    oracle_path = corpus / "pixel-oracle.json"
    if not oracle_path.exists():
        raise SystemExit(f"{oracle_path} is missing: run `make corpus`")
    for key, entry in sorted(json.loads(oracle_path.read_text()).items()):
        if not (entry.get("compressed") and entry["status"] == "ok" and entry.get("decoder") == "pydicom"):
            continue
        if lossless_jpeg_only and entry["syntax"] not in LOSSLESS_JPEG:
            continue
        yield key, entry


def decoding(path: pathlib.Path, entry: dict, lossless_jpeg_only: bool):
    """The work to time, with everything but the decoding done beforehand."""
    ds = pydicom.dcmread(path)
    if lossless_jpeg_only:
        import libjpeg
        frames = list(generate_frames(ds.PixelData, number_of_frames=entry["shape"][0]))
        return lambda: [libjpeg.decode(frame) for frame in frames]
    return lambda: pixel_array(ds, raw=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=pathlib.Path)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=pathlib.Path)
    parser.add_argument("--lossless-jpeg-only", action="store_true")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    work = []
    for key, entry in selected(args.corpus, args.lossless_jpeg_only):
        decode = decoding(args.corpus / "files" / key, entry, args.lossless_jpeg_only)
        decode()
        frames, rows, columns = entry["shape"][:3]
        work.append((entry["syntax"], frames, frames * rows * columns, decode))
    if not work:
        raise SystemExit("no compressed file to decode: is pixel-oracle.json from the current scripts/pixel-oracle?")

    results: dict = {}
    gc.disable()
    for syntax, frames, pixels, decode in work:
        fastest = float("inf")
        for _ in range(max(1, args.repeat)):
            start = time.perf_counter()
            decode()
            fastest = min(fastest, time.perf_counter() - start)
        for key in (syntax, "total"):
            row = results.setdefault(key, {"frames": 0, "megapixels": 0.0, "seconds": 0.0})
            row["frames"] += frames
            row["megapixels"] += pixels / 1e6
            row["seconds"] += fastest
    gc.enable()
    for row in results.values():
        row["mp_per_s"] = row["megapixels"] / row["seconds"]

    mode = "libjpeg.decode on JPEG Lossless frames" if args.lossless_jpeg_only else "pydicom pixel_array(raw=True)"
    print(f"decode: pydicom {pydicom.__version__}, {mode}, {len(work)} files, fastest of {args.repeat}, one core")
    for key in sorted(results, key=lambda k: (k == "total", k)):
        row = results[key]
        print(f"  {key}: frames={row['frames']} megapixels={row['megapixels']:.3f} "
              f"seconds={row['seconds']:.4f} mp_per_s={row['mp_per_s']:.1f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
