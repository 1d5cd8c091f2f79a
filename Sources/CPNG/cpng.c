#include "cpng.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *error;
    size_t error_size;
} error_sink;

static void on_error(png_structp png, png_const_charp message) {
    error_sink *sink = (error_sink *)png_get_error_ptr(png);
    if (sink && sink->error && sink->error_size > 0) snprintf(sink->error, sink->error_size, "%s", message);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;  // warnings (e.g. an unknown chunk) do not make an image wrong
}

typedef struct {
    dd_png_buffer *buffer;
    size_t capacity;
    int failed;
} growing_buffer;

static void write_to_buffer(png_structp png, png_bytep data, png_size_t length) {
    growing_buffer *target = (growing_buffer *)png_get_io_ptr(png);
    if (target->buffer->size + length > target->capacity) {
        size_t capacity = target->capacity ? target->capacity : 65536;
        while (capacity < target->buffer->size + length) capacity *= 2;
        unsigned char *grown = realloc(target->buffer->data, capacity);
        if (!grown) png_error(png, "out of memory while writing PNG");
        target->buffer->data = grown;
        target->capacity = capacity;
    }
    memcpy(target->buffer->data + target->buffer->size, data, length);
    target->buffer->size += length;
}

static void flush_buffer(png_structp png) { (void)png; }

int dd_png_encode(const unsigned char *pixels, unsigned width, unsigned height, int channels, int bit_depth,
                  int compression_level, int filters, int strategy, dd_png_buffer *out, char *error, size_t error_size) {
    error_sink sink = {error, error_size};
    out->data = NULL;
    out->size = 0;
    if (width == 0 || height == 0 || (bit_depth != 8 && bit_depth != 16) || channels < 1 || channels > 4) {
        snprintf(error, error_size, "cannot encode %ux%u with %d channels of %d bits", width, height, channels, bit_depth);
        return 1;
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink, on_error, on_warning);
    if (!png) {
        snprintf(error, error_size, "libpng could not create a writer");
        return 1;
    }
    png_infop info = png_create_info_struct(png);
    growing_buffer target = {out, 0, 0};
    // volatile: read after longjmp.
    png_bytep *volatile rows = NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, info ? &info : NULL);
        free((void *)rows);
        free(out->data);
        out->data = NULL;
        out->size = 0;
        return 1;
    }
    static const int color_types[] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    png_set_write_fn(png, &target, write_to_buffer, flush_buffer);
    png_set_IHDR(png, info, width, height, bit_depth, color_types[channels], PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, compression_level);
    png_set_compression_strategy(png, strategy);
    // Fewer, larger IDAT chunks: less CRC and chunk overhead per image.
    png_set_compression_buffer_size(png, 1 << 16);
    if (filters) png_set_filter(png, PNG_FILTER_TYPE_BASE, filters);
    png_write_info(png, info);
    if (bit_depth == 16) png_set_swap(png);  // PNG stores 16-bit samples big-endian
    size_t stride = (size_t)width * (size_t)channels * (size_t)(bit_depth / 8);
    rows = malloc(sizeof(png_bytep) * height);
    if (!rows) png_error(png, "out of memory for row pointers");
    for (unsigned y = 0; y < height; y++) rows[y] = (png_bytep)(pixels + stride * y);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    free((void *)rows);
    png_destroy_write_struct(&png, &info);
    return 0;
}

typedef struct {
    const unsigned char *data;
    size_t size;
    size_t offset;
} reading_buffer;

static void read_from_buffer(png_structp png, png_bytep data, png_size_t length) {
    reading_buffer *source = (reading_buffer *)png_get_io_ptr(png);
    if (source->offset + length > source->size) png_error(png, "PNG data ends early");
    memcpy(data, source->data + source->offset, length);
    source->offset += length;
}

int dd_png_decode(const unsigned char *bytes, size_t size, dd_png_image *out, char *error, size_t error_size) {
    error_sink sink = {error, error_size};
    memset(out, 0, sizeof(*out));
    if (size < 8 || png_sig_cmp(bytes, 0, 8) != 0) {
        snprintf(error, error_size, "not a PNG file (no PNG signature)");
        return 1;
    }
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &sink, on_error, on_warning);
    if (!png) {
        snprintf(error, error_size, "libpng could not create a reader");
        return 1;
    }
    png_infop info = png_create_info_struct(png);
    reading_buffer source = {bytes, size, 0};
    png_bytep *volatile rows = NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, info ? &info : NULL, NULL);
        free((void *)rows);
        free(out->pixels);
        out->pixels = NULL;
        return 1;
    }
    png_set_read_fn(png, &source, read_from_buffer);
    png_read_info(png, info);
    png_set_expand(png);  // palette to RGB, gray below 8 bits to 8, tRNS to alpha
    if (png_get_bit_depth(png, info) == 16) png_set_swap(png);
    png_read_update_info(png, info);
    out->width = png_get_image_width(png, info);
    out->height = png_get_image_height(png, info);
    out->channels = png_get_channels(png, info);
    out->bit_depth = png_get_bit_depth(png, info);
    size_t stride = png_get_rowbytes(png, info);
    out->pixels = malloc(stride * out->height);
    rows = malloc(sizeof(png_bytep) * out->height);
    if (!out->pixels || !rows) png_error(png, "out of memory while reading PNG");
    for (unsigned y = 0; y < out->height; y++) rows[y] = out->pixels + stride * y;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free((void *)rows);
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
}

void dd_png_free(void *pointer) { free(pointer); }
