"""pydicom + Pillow doing what RenderBenchmark times (see scripts/bench-render): read,
decode, Modality LUT, VOI (or min-max), MONOCHROME1 inversion or colour conversion, 8 bits,
PNG at zlib level 1, every frame, one thread. Prints the same key=value line."""
import io
import sys
import time
import warnings

import numpy as np
import pydicom
from PIL import Image
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut, convert_color_space

warnings.simplefilter("ignore")


def to_8_bits(values, low, high):
    values = np.asarray(values, dtype=np.float64)
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.clip(np.rint((values - low) / (high - low) * 255.0), 0, 255).astype(np.uint8)


def render(frame, ds):
    photometric = ds.PhotometricInterpretation
    if photometric.startswith("MONOCHROME"):
        values = apply_modality_lut(frame, ds)
        if "WindowCenter" in ds or "VOILUTSequence" in ds:
            values = apply_voi_lut(values, ds)
        image = to_8_bits(values, float(values.min()), float(values.max()))
        return 255 - image if photometric == "MONOCHROME1" else image
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(frame, ds)
        return to_8_bits(rgb, 0, 2.0 ** ds.RedPaletteColorLookupTableDescriptor[2] - 1)
    if photometric.startswith("YBR"):
        frame = convert_color_space(frame, photometric, "RGB")
    return to_8_bits(frame, 0, 2.0 ** ds.BitsStored - 1)


def main():
    paths = [line.strip() for line in sys.stdin if line.strip()]
    pixels = frames = png_bytes = 0
    start = time.perf_counter()
    for path in paths:
        ds = pydicom.dcmread(path)
        array = ds.pixel_array
        count = int(ds.get("NumberOfFrames", 1) or 1)
        for index in range(count):
            frame = array[index] if count > 1 else array
            buffer = io.BytesIO()
            Image.fromarray(render(frame, ds)).save(buffer, "PNG", compress_level=1)
            png_bytes += buffer.tell()
            pixels += int(ds.Rows) * int(ds.Columns)
            frames += 1
    seconds = time.perf_counter() - start
    print(f"files={len(paths)} frames={frames} megapixels={pixels / 1e6} seconds={seconds} "
          f"megapixels_per_second={pixels / 1e6 / seconds} png_bytes={png_bytes}")


if __name__ == "__main__":
    main()
