// A small C layer over libpng's classic API. libpng reports errors by longjmp to a handler
// that aborts the process by default; here every entry point sets its own setjmp and turns
// an error into a return code and a message, so no image can take the daemon down.
#ifndef DICOMDROP_CPNG_H
#define DICOMDROP_CPNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    unsigned char *data;  // malloc'd; release with dd_png_free
    size_t size;
} dd_png_buffer;

typedef struct {
    unsigned width, height;
    int channels;         // 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA
    int bit_depth;        // 8 or 16; 16-bit samples are returned in host (little-endian) order
    unsigned char *pixels;  // malloc'd, rows packed: width * channels * bit_depth / 8 bytes each
} dd_png_image;

// Encodes 8- or 16-bit gray or RGB rows (16-bit samples in host order) as PNG.
// compression_level: zlib 0-9; filters: libpng PNG_FILTER_* flags (0 lets libpng choose).
// Returns 0 on success; otherwise writes a message into error.
int dd_png_encode(const unsigned char *pixels, unsigned width, unsigned height, int channels, int bit_depth,
                  int compression_level, int filters, int strategy, dd_png_buffer *out, char *error, size_t error_size);

// Decodes a PNG held in memory to packed rows (palette expanded, bit depths below 8 raised to 8).
int dd_png_decode(const unsigned char *png, size_t size, dd_png_image *out, char *error, size_t error_size);

void dd_png_free(void *pointer);

#endif
