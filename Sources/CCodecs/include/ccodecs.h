// Small C layers over the compressed-pixel libraries dicomdrop links: libjpeg-turbo (the
// libjpeg API), OpenJPEG and CharLS. Each entry point decodes one frame held in memory into
// interleaved samples, 1 byte each when the precision is 8 bits or less, else 2 bytes in
// host (little-endian) order, and turns every library error into a return code and a
// message: libjpeg's error_exit longjmps back here instead of exiting, OpenJPEG's message
// callbacks are collected, CharLS's error codes are described. No frame can take the daemon
// down.
#ifndef DICOMDROP_CCODECS_H
#define DICOMDROP_CCODECS_H

#include <stddef.h>
#include <stdint.h>

/// What a decoder found in the codestream and the samples it produced.
typedef struct {
    unsigned width, height;
    int components;
    int precision;          // bits per sample in the codestream (the largest, for JPEG 2000)
    int is_signed;          // JPEG 2000 only: the codestream says samples are signed
    // libjpeg: the colour space of the coded components as libjpeg reads the markers
    // (1 gray, 2 RGB, 3 YCbCr, 4 CMYK, 5 YCCK), and of the samples returned.
    // JPEG 2000: 1 when the inverse multi-component transform (RCT/ICT) was applied.
    // JPEG-LS: the HP colour transformation (0 none, 1-3 HP1-3), undone by CharLS.
    int color_transform;
    int adobe_transform;    // libjpeg: APP14 transform flag, -1 without an Adobe marker
    int saw_jfif;           // libjpeg: a JFIF APP0 marker was present
    int near_lossless;      // JPEG-LS: NEAR of the first component
    int interleave;         // JPEG-LS: 0 none, 1 line, 2 sample
    char warning[200];      // libjpeg: the first warning (corrupt data it decoded past), or ""
    unsigned char *samples; // malloc'd; release with dd_codec_free
    size_t size;
} dd_decoded_frame;

// 8-bit JPEG (baseline and extended sequential, progressive) through libjpeg-turbo.
// keep_ycbcr: YCbCr-coded frames come back as YCbCr (upsampled), not converted to RGB.
// fancy_upsampling: libjpeg's triangle filter for subsampled chroma, else replication.
// unmarked_is_rgb: three components with neither a JFIF nor an Adobe marker are RGB (the
// dataset says so), where libjpeg would otherwise guess YCbCr.
int dd_jpeg_decode(const unsigned char *data, size_t size, int keep_ycbcr, int fancy_upsampling, int unmarked_is_rgb,
                   size_t max_samples,
                   dd_decoded_frame *out, char *error, size_t error_size);

// A JPEG 2000 codestream (or JP2 file) through OpenJPEG, HTJ2K included; precision <= 16.
int dd_j2k_decode(const unsigned char *data, size_t size, size_t max_samples,
                  dd_decoded_frame *out, char *error, size_t error_size);

// A JPEG-LS frame through CharLS; planar (interleave none) frames are interleaved here.
int dd_jls_decode(const unsigned char *data, size_t size, size_t max_samples,
                  dd_decoded_frame *out, char *error, size_t error_size);

void dd_codec_free(void *pointer);

#endif
