// libjpeg-turbo's libjpeg API behind setjmp: error_exit longjmps back to dd_jpeg_decode
// instead of calling exit(), and warnings (corrupt data decoded past) are kept, not printed.
#include "ccodecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf escape;
    char *warning;
    int too_many_scans;
} dd_jpeg_errors;

// A progressive frame of a few kilobytes can hold thousands of empty scans, each of which
// walks every block of the image: libjpeg-turbo's own tools cap them (-maxscans). No
// encoder writes more than a few dozen.
enum { DD_JPEG_MAXIMUM_SCANS = 500 };

static void dd_jpeg_progress(j_common_ptr info) {
    j_decompress_ptr decompress = (j_decompress_ptr)info;
    if (decompress->is_decompressor && decompress->input_scan_number > DD_JPEG_MAXIMUM_SCANS) {
        dd_jpeg_errors *errors = (dd_jpeg_errors *)info->err;
        errors->too_many_scans = 1;
        longjmp(errors->escape, 1);
    }
}

static void dd_jpeg_error_exit(j_common_ptr info) {
    dd_jpeg_errors *errors = (dd_jpeg_errors *)info->err;
    longjmp(errors->escape, 1);
}

static void dd_jpeg_emit_message(j_common_ptr info, int level) {
    dd_jpeg_errors *errors = (dd_jpeg_errors *)info->err;
    if (level < 0 && errors->warning[0] == 0) {
        info->err->format_message(info, errors->warning);
    }
}

static void dd_jpeg_output_message(j_common_ptr info) { (void)info; }

int dd_jpeg_decode(const unsigned char *data, size_t size, int keep_ycbcr, int fancy_upsampling, int unmarked_is_rgb,
                   size_t max_samples,
                   dd_decoded_frame *out, char *error, size_t error_size) {
    struct jpeg_decompress_struct info;
    dd_jpeg_errors errors;
    memset(out, 0, sizeof(*out));
    out->adobe_transform = -1;
    // volatile: assigned between setjmp and a possible longjmp.
    unsigned char *volatile samples = NULL;
    info.err = jpeg_std_error(&errors.base);
    errors.base.error_exit = dd_jpeg_error_exit;
    errors.base.emit_message = dd_jpeg_emit_message;
    errors.base.output_message = dd_jpeg_output_message;
    errors.warning = out->warning;
    errors.too_many_scans = 0;
    struct jpeg_progress_mgr progress = {dd_jpeg_progress, 0, 0, 0, 0};
    if (setjmp(errors.escape)) {
        char message[JMSG_LENGTH_MAX];
        if (errors.too_many_scans) {
            snprintf(message, sizeof(message), "more than %d scans", DD_JPEG_MAXIMUM_SCANS);
        } else {
            errors.base.format_message((j_common_ptr)&info, message);
        }
        snprintf(error, error_size, "libjpeg-turbo: %s", message);
        jpeg_destroy_decompress(&info);
        free(samples);
        return -1;
    }
    jpeg_create_decompress(&info);
    info.progress = &progress;
    jpeg_mem_src(&info, data, (unsigned long)size);
    jpeg_read_header(&info, TRUE);
    size_t count = (size_t)info.image_width * info.image_height * (size_t)info.num_components;
    if (info.num_components < 1 || info.num_components > 4 || count > max_samples) {
        snprintf(error, error_size, "libjpeg-turbo: a frame of %ux%ux%d samples is beyond the limit",
                 info.image_width, info.image_height, info.num_components);
        jpeg_destroy_decompress(&info);
        return -1;
    }
    out->precision = info.data_precision;
    out->saw_jfif = info.saw_JFIF_marker;
    out->adobe_transform = info.saw_Adobe_marker ? info.Adobe_transform : -1;
    if (unmarked_is_rgb && info.num_components == 3 && !info.saw_JFIF_marker && !info.saw_Adobe_marker) {
        info.jpeg_color_space = JCS_RGB;
    }
    out->color_transform = info.jpeg_color_space;
    if (info.jpeg_color_space == JCS_YCbCr && keep_ycbcr) {
        info.out_color_space = JCS_YCbCr;
    } else if (info.jpeg_color_space == JCS_YCbCr || info.jpeg_color_space == JCS_RGB) {
        info.out_color_space = JCS_RGB;
    } else {
        // Gray, CMYK and YCCK are returned as coded: the dataset says what they mean.
        info.out_color_space = info.jpeg_color_space;
    }
    info.do_fancy_upsampling = fancy_upsampling ? TRUE : FALSE;
    info.dct_method = JDCT_ISLOW;
    jpeg_start_decompress(&info);
    size_t row_bytes = (size_t)info.output_width * info.output_components;
    samples = malloc(row_bytes * info.output_height + 1);
    if (!samples) {
        snprintf(error, error_size, "libjpeg-turbo: out of memory for %zu bytes", row_bytes * info.output_height);
        jpeg_destroy_decompress(&info);
        return -1;
    }
    while (info.output_scanline < info.output_height) {
        JSAMPROW row = samples + row_bytes * info.output_scanline;
        jpeg_read_scanlines(&info, &row, 1);
    }
    jpeg_finish_decompress(&info);
    out->width = info.output_width;
    out->height = info.output_height;
    out->components = info.output_components;
    out->samples = samples;
    out->size = row_bytes * info.output_height;
    jpeg_destroy_decompress(&info);
    return 0;
}

void dd_codec_free(void *pointer) { free(pointer); }
