"""scripts/bench-large: see that script. Files are written by hand, element by element, so
that making a 2 GB file never holds it in memory either."""
import io
import os
import pathlib
import struct
import subprocess
import sys
import time

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import generate_frames
from pydicom.uid import ExplicitVRLittleEndian, RLELossless, generate_uid

ROWS = COLUMNS = 512
FRAME_BYTES = ROWS * COLUMNS * 2
DICOMDROP = os.environ["DICOMDROP"]


def frame(index: int) -> np.ndarray:
    """Frame `index`: a gradient that moves with the index, plus a little noise, 12 bits."""
    y, x = np.mgrid[0:ROWS, 0:COLUMNS]
    rng = np.random.default_rng(index)
    values = (x * 4 + y * 2 + index * 7) % 3000 + rng.integers(0, 40, size=(ROWS, COLUMNS))
    return values.astype("<u2")


def header(frames: int, syntax) -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.12.1"  # X-Ray Angiographic
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality = "Large^Cine", "LARGE-1", "XA"
    ds.Rows, ds.Columns, ds.NumberOfFrames = ROWS, COLUMNS, frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def write_native(path: pathlib.Path, size: int) -> int:
    """About `size` bytes of frames; returns how many."""
    frames = max(2, size // FRAME_BYTES)
    with open(path, "wb") as out:
        out.write(header(frames, ExplicitVRLittleEndian))
        out.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, frames * FRAME_BYTES))
        for index in range(frames):
            out.write(frame(index).tobytes())
    return frames


def write_rle(path: pathlib.Path, size: int) -> int:
    """About `size` bytes of RLE frames; returns how many."""
    # Eight distinct encoded frames repeat (encoding thousands in Python would take longer
    # than the benchmark); frame i holds frame(i % 8).
    encoded = []
    for index in range(8):
        ds = Dataset()
        ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored = ROWS, COLUMNS, 1, 16, 12
        ds.PixelRepresentation, ds.PhotometricInterpretation, ds.NumberOfFrames = 0, "MONOCHROME2", 1
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.PixelData = frame(index).tobytes()
        ds.compress(RLELossless, encoding_plugin="pydicom")
        encoded.append(next(generate_frames(ds.PixelData, number_of_frames=1)))
    frames = max(2, size * 8 // sum(len(fragment) + 8 for fragment in encoded))
    with open(path, "wb") as out:
        out.write(header(frames, RLELossless))
        out.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, 0xFFFFFFFF))
        offsets, offset = [], 0
        for index in range(frames):
            offsets.append(offset)
            offset += 8 + len(encoded[index % 8])
        table = struct.pack(f"<{frames}I", *offsets) if offset < 2**32 else b""
        out.write(struct.pack("<HHI", 0xFFFE, 0xE000, len(table)) + table)
        for index in range(frames):
            fragment = encoded[index % 8]
            out.write(struct.pack("<HHI", 0xFFFE, 0xE000, len(fragment)) + fragment)
        out.write(struct.pack("<HHI", 0xFFFE, 0xE0DD, 0))
    return frames


def run(root: pathlib.Path, name: str, frames: int, expected_frame) -> None:
    config = root / "watch.yaml"
    config.write_text("drop: drop\noutput: out\ndatabase: ledger.sqlite\nsettle_seconds: 0\nworkers: 2\n"
                      "deidentify:\n  write_dicom: true\n")
    source = next((root / "drop").rglob("*.dcm"))
    start = time.perf_counter()
    result = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", DICOMDROP, "--config", str(config), "--once"],
                            capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{name}: dicomdrop failed:\n{result.stderr[-2000:]}")
    peak_kb, user, system = result.stderr.strip().splitlines()[-1].split()
    pngs = sorted((root / "out").rglob("*.png"))
    copies = list((root / "out").rglob("*.dcm"))
    if len(pngs) != frames or len(copies) != 1:
        raise SystemExit(f"{name}: {len(pngs)} PNGs for {frames} frames, {len(copies)} DICOM copies\n{result.stderr[-2000:]}")
    copy = pydicom.dcmread(copies[0])
    for index in (0, frames // 2, frames - 1):
        got = pydicom.pixels.pixel_array(copy, index=index)
        if not np.array_equal(got, expected_frame(index)):
            raise SystemExit(f"{name}: frame {index + 1} of the DICOM copy differs from the frame written")
    print(f"{name} {source.stat().st_size / 2**20:.0f} MiB, {frames} frames: peak RSS {int(peak_kb) / 1024:.0f} MiB, "
          f"wall {seconds:.1f} s, CPU {float(user) + float(system):.1f} s, {len(pngs)} PNGs, "
          f"DICOM copy {copies[0].stat().st_size / 2**20:.0f} MiB")


def main() -> int:
    work, size_mb = pathlib.Path(sys.argv[1]), int(sys.argv[2])
    for name, write, expected in (("native", write_native, frame), ("rle", write_rle, lambda i: frame(i % 8))):
        root = work / name
        (root / "drop" / "cine").mkdir(parents=True)
        frames = write(root / "drop" / "cine" / "large.dcm", size_mb * 2**20)
        os.sync()
        run(root, name, frames, expected)
        subprocess.run(["rm", "-rf", str(root)], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
