"""The measurements behind scripts/bench-daemon (see there). Python is the comparison and
the harness only: dicomdrop itself runs as its release binary."""
import hashlib
import json
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
import zlib

import numpy as np
import pydicom
from PIL import Image
from pydicom.pixels import apply_modality_lut, apply_voi_lut
from pydicom.uid import JPEG2000Lossless, UncompressedTransferSyntaxes, generate_uid

CORPUS = pathlib.Path("corpus/files")
DICOMDROP = os.environ["DICOMDROP"]
warnings.simplefilter("ignore")


def templates(modalities=("CT", "MR")):
    """The corpus's uncompressed single-frame grayscale images of `modalities`."""
    found = []
    for path in sorted(CORPUS.rglob("*.dcm")):
        try:
            ds = pydicom.dcmread(path)
        except Exception:
            continue
        if (ds.get("Modality") in modalities and ds.file_meta.TransferSyntaxUID in UncompressedTransferSyntaxes
                and int(ds.get("NumberOfFrames", 1) or 1) == 1 and ds.get("SamplesPerPixel", 1) == 1
                and "PixelData" in ds and ds.BitsAllocated in (8, 16)):
            try:
                ds.pixel_array  # a template pydicom cannot decode (short pixel data) is no template
            except Exception:
                continue
            del ds._pixel_array
            found.append(ds)
    return found


def compressed_templates(sources, cache: pathlib.Path):
    """Each template encoded once as JPEG Lossless SV1 (dcmcjpeg +e1) and once as JPEG 2000
    lossless (pydicom with pylibjpeg-openjpeg), written to `cache` and read back, the two
    syntaxes alternating so that a drop make_drop makes from them holds half of each."""
    cache.mkdir(parents=True)
    found = []
    for index, template in enumerate(sources):
        reference = pydicom.dcmread(template.filename).pixel_array
        lossless = cache / f"{index:03d}-jpeg-lossless.dcm"
        result = subprocess.run(["dcmcjpeg", "+e1", template.filename, str(lossless)], capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"dcmcjpeg +e1 {template.filename} failed: {result.stderr.strip()}")
        j2k = pydicom.dcmread(template.filename)
        # compress() encodes a big-endian template's pixel data as if it were little-endian:
        # it is handed the decoded pixels in native byte order instead. dcmwrite, unlike
        # save_as, writes a big-endian template as the little-endian that JPEG 2000 is.
        j2k.compress(JPEG2000Lossless, reference.astype(reference.dtype.newbyteorder("=")), encoding_plugin="pylibjpeg")
        jpeg_2000 = cache / f"{index:03d}-jpeg-2000.dcm"
        pydicom.dcmwrite(jpeg_2000, j2k, enforce_file_format=True)
        for path in (lossless, jpeg_2000):
            ds = pydicom.dcmread(path)
            # A lossy or misread encoding would compare different work: refuse it here.
            if not np.array_equal(ds.pixel_array, reference):
                raise SystemExit(f"{path.name}: its pixels differ from {template.filename}'s")
            del ds._pixel_array
            found.append(ds)
    return found


def make_drop(root: pathlib.Path, count: int, sources) -> int:
    """`count` copies with distinct SOP Instance UIDs (distinct bytes, distinct names)."""
    folder = root / "drop" / "bench"
    folder.mkdir(parents=True)
    total = 0
    for index in range(count):
        ds = sources[index % len(sources)]
        ds.SOPInstanceUID = generate_uid(entropy_srcs=[str(index)])
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        target = folder / f"{index:06d}.dcm"
        ds.save_as(target, enforce_file_format=True)
        total += target.stat().st_size
    return total


def warm(root: pathlib.Path) -> None:
    """Warms the page cache for both contenders alike: the comparison is of CPU work. The
    drop was just written: flush it first, or dicomdrop's syncfs (outputs durable before the
    ledger commits) would wait for the drop's gigabyte of writeback, a cost of making the
    benchmark that the Python side never pays."""
    os.sync()
    subprocess.run(["cat"] + [str(p) for p in (root / "drop/bench").iterdir()], stdout=subprocess.DEVNULL)


def write_config(root: pathlib.Path, extra: str = "", name: str = "watch.yaml") -> str:
    config = root / name
    config.write_text("drop: drop\noutput: out\ndatabase: ledger.sqlite\nsettle_seconds: 0\n" + extra)
    return str(config)


# The dataset layer at its busiest: capacity-limited directories (a placement transaction
# per image, a manifest per directory) and a filter on every image. The metadata tables are
# written in every run.
DATASET_LAYER = "buckets:\n  capacity: 400\nfilters:\n  Modality: {exclude: [SR, KO, PR]}\n"


def run_dicomdrop(config: str, cpu: list | None = None):
    """Wall seconds and peak RSS (MB) of one `dicomdrop --once`; its CPU seconds (user +
    system) appended to `cpu` when given. This machine's CPU speed drifts by 10-15% from
    minute to minute, so CPU seconds are reported beside the wall time."""
    start = time.perf_counter()
    result = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", DICOMDROP, "--config", config, "--once"],
                            capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    peak_kb, user, system = result.stderr.strip().splitlines()[-1].split()
    if cpu is not None:
        cpu.append(float(user) + float(system))
    return seconds, int(peak_kb) / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_one(path: pathlib.Path, out: pathlib.Path, level: int = 1) -> None:
    """One file through the same work as dicomdrop's pipeline, the way the replaced DAGs do
    it: hash, parse, DICOM JSON, rendered 8-bit PNG at zlib `level`."""
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    ds = pydicom.dcmread(path)
    document = ds.to_json_dict()
    document.pop("7FE00010", None)
    name = ds.SOPInstanceUID
    (out / f"{name}.json").write_text(json.dumps(document))
    pixels = apply_modality_lut(ds.pixel_array, ds).astype(np.float64)
    if "WindowCenter" in ds and "WindowWidth" in ds:
        pixels = apply_voi_lut(pixels, ds)
    low, high = float(pixels.min()), float(pixels.max())
    scaled = np.zeros(pixels.shape) if high <= low else (pixels - low) / (high - low) * 255
    gray = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        gray = 255 - gray
    Image.fromarray(gray, mode="L").save(out / f"{name}.png", compress_level=level)
    del digest


def python_pipeline(drop: pathlib.Path, out: pathlib.Path, cpu: list) -> float:
    """The same work as dicomdrop's pipeline, the way the replaced DAGs do it."""
    out.mkdir(parents=True)
    cpu_start = cpu_seconds()
    start = time.perf_counter()
    for path in sorted(drop.rglob("*.dcm")):
        process_one(path, out)
    seconds = time.perf_counter() - start
    cpu.append(cpu_seconds() - cpu_start)
    return seconds


def compression_floor(out: pathlib.Path) -> float:
    """Seconds zlib alone needs, on one core, to compress what dicomdrop's PNGs hold (the
    8-bit renders, Up-filtered, level 1, RLE strategy: dicomdrop's settings): the part of
    the pipeline no implementation on top of zlib can avoid."""
    rows = []
    for path in sorted(out.rglob("*.png")):
        pixels = np.asarray(Image.open(path)).astype(np.int16)
        filtered = pixels.copy()
        filtered[1:, :] = pixels[1:, :] - pixels[:-1, :]
        filtered = (filtered & 0xFF).astype(np.uint8)
        rows.append(np.concatenate([np.full((filtered.shape[0], 1), 2, np.uint8), filtered], axis=1).tobytes())
    start = time.perf_counter()
    for data in rows:
        compressor = zlib.compressobj(1, zlib.DEFLATED, 15, 8, zlib.Z_RLE)
        compressor.compress(data)
        compressor.flush()
    return time.perf_counter() - start


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    small = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    sources = templates()
    print(f"templates: {len(sources)} uncompressed CT/MR images from the corpus "
          f"({', '.join(sorted({f'{ds.Rows}x{ds.Columns}' for ds in sources}))})", flush=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="dicomdrop-bench-"))
    try:
        peaks = {}
        for size in sorted({max(count // 4, 1), count}):
            root = work / f"drop{size}"
            total = make_drop(root, size, sources)
            config = write_config(root)
            warm(root)
            ours_cpu = []
            seconds, peak = run_dicomdrop(config, ours_cpu)
            pngs = sum(1 for _ in (root / "out").rglob("*.png"))
            peaks[size] = peak
            print(f"dicomdrop --once, {size} files ({total / 1e6:.1f} MB): {seconds:.2f} s, {size / seconds:.1f} files/s, "
                  f"{total / seconds / 1e6:.1f} MB/s, {ours_cpu[0]:.2f} CPU s, peak RSS {peak:.1f} MB, {pngs} PNGs", flush=True)
            if size == count:
                theirs_cpu = []
                python_seconds = python_pipeline(root / "drop", work / "python-out", theirs_cpu)
                print(f"pydicom + Pillow, one process, {size} files: {python_seconds:.2f} s, {size / python_seconds:.1f} files/s, "
                      f"{total / python_seconds / 1e6:.1f} MB/s, {theirs_cpu[0]:.2f} CPU s", flush=True)
                print(f"ratio: {python_seconds / seconds:.1f}x (CPU seconds: {theirs_cpu[0] / ours_cpu[0]:.1f}x)", flush=True)
                floor = compression_floor(root / "out")
                cores = os.cpu_count() or 1
                print(f"zlib alone on the same PNG rows, one core: {floor:.2f} s; on {cores} cores at best {floor / cores:.2f} s, "
                      f"so no zlib-based pipeline here exceeds {python_seconds / (floor / cores):.1f}x", flush=True)
                ledger_mb = (root / "ledger.sqlite").stat().st_size / 1e6
                layer = work / "dataset-layer"
                layer.mkdir()
                (layer / "drop").symlink_to(root / "drop")
                layer_cpu = []
                layer_seconds, _ = run_dicomdrop(write_config(layer, DATASET_LAYER), layer_cpu)
                manifests = sum(1 for _ in (layer / "out").rglob("manifest.csv"))
                print(f"with buckets.capacity 400 and a filter, {size} files: {layer_seconds:.2f} s, {layer_cpu[0]:.2f} CPU s "
                      f"({layer_seconds / seconds:.3f}x the wall, {layer_cpu[0] / ours_cpu[0]:.3f}x the CPU of the run above), "
                      f"{manifests} manifests; ledger with the metadata tables: {ledger_mb:.1f} MB", flush=True)
                rescan_seconds, rescan_peak = run_dicomdrop(config)
                print(f"restart, no-op rescan of {count} files: {rescan_seconds:.3f} s (peak RSS {rescan_peak:.1f} MB)", flush=True)
        print("peak RSS by drop size: " + ", ".join(f"{size} files {peak:.1f} MB" for size, peak in sorted(peaks.items())), flush=True)

        # The same images compressed, as archives and modalities send them: the decoders'
        # share of the work, on both sides.
        root = work / "compressed"
        total = make_drop(root, count, compressed_templates(sources, work / "compressed-templates"))
        config = write_config(root)
        warm(root)
        ours_cpu = []
        seconds, peak = run_dicomdrop(config, ours_cpu)
        pngs = sum(1 for _ in (root / "out").rglob("*.png"))
        print(f"dicomdrop --once, compressed drop (half JPEG Lossless SV1, half JPEG 2000 lossless), {count} files "
              f"({total / 1e6:.1f} MB): {seconds:.2f} s, {count / seconds:.1f} files/s, {total / seconds / 1e6:.1f} MB/s, "
              f"{ours_cpu[0]:.2f} CPU s, peak RSS {peak:.1f} MB, {pngs} PNGs", flush=True)
        theirs_cpu = []
        python_seconds = python_pipeline(root / "drop", work / "python-compressed-out", theirs_cpu)
        print(f"pydicom + pylibjpeg + Pillow, one process, compressed drop, {count} files: {python_seconds:.2f} s, "
              f"{count / python_seconds:.1f} files/s, {total / python_seconds / 1e6:.1f} MB/s, {theirs_cpu[0]:.2f} CPU s", flush=True)
        print(f"compressed ratio: {python_seconds / seconds:.1f}x (CPU seconds: {theirs_cpu[0] / ours_cpu[0]:.1f}x)", flush=True)

        # 100,000 small files (1,000 a folder): processed once (as not DICOM), then a
        # restart's no-op rescan.
        root = work / "small"
        folder = root / "drop"
        per_unit = min(small, 1000)
        for unit in range(max(small // per_unit, 1)):
            unit_folder = folder / f"unit{unit:03d}"
            unit_folder.mkdir(parents=True)
            for index in range(per_unit):
                (unit_folder / f"{index:04d}.txt").write_bytes(f"{unit}/{index}\n".encode())
        config = write_config(root)
        first_seconds, first_peak = run_dicomdrop(config)
        rescan_seconds, rescan_peak = run_dicomdrop(config)
        print(f"{small:,} small files: first run {first_seconds:.1f} s (peak RSS {first_peak:.1f} MB); "
              f"restart, no-op rescan {rescan_seconds:.3f} s (peak RSS {rescan_peak:.1f} MB)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
