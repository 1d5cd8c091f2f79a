// CharLS's C API decoding one JPEG-LS frame. CharLS reports errors as codes (its C API
// catches its own exceptions); each is returned here with CharLS's message.
#include "ccodecs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <charls/charls.h>

static int dd_jls_fail(char *error, size_t error_size, const char *what, charls_jpegls_errc code) {
    snprintf(error, error_size, "CharLS: %s: %s", what, charls_get_error_message(code));
    return -1;
}

int dd_jls_decode(const unsigned char *data, size_t size, size_t max_samples,
                  dd_decoded_frame *out, char *error, size_t error_size) {
    memset(out, 0, sizeof(*out));
    out->adobe_transform = -1;
    charls_jpegls_decoder *decoder = charls_jpegls_decoder_create();
    if (!decoder) {
        snprintf(error, error_size, "CharLS: cannot create a decoder");
        return -1;
    }
    int result = -1;
    unsigned char *decoded = NULL, *samples = NULL;
    charls_jpegls_errc code = charls_jpegls_decoder_set_source_buffer(decoder, data, size);
    if (code) { result = dd_jls_fail(error, error_size, "cannot read the frame", code); goto done; }
    code = charls_jpegls_decoder_read_header(decoder);
    if (code) { result = dd_jls_fail(error, error_size, "cannot read the header", code); goto done; }
    charls_frame_info frame;
    charls_interleave_mode interleave;
    charls_color_transformation transform;
    int32_t near_lossless = 0;
    if ((code = charls_jpegls_decoder_get_frame_info(decoder, &frame))
        || (code = charls_jpegls_decoder_get_interleave_mode(decoder, &interleave))
        || (code = charls_jpegls_decoder_get_color_transformation(decoder, &transform))
        || (code = charls_jpegls_decoder_get_near_lossless(decoder, 0, &near_lossless))) {
        result = dd_jls_fail(error, error_size, "cannot read the header", code);
        goto done;
    }
    size_t pixels = (size_t)frame.width * frame.height, components = (size_t)frame.component_count;
    if (components < 1 || components > 4 || frame.bits_per_sample < 2 || frame.bits_per_sample > 16
        || pixels * components > max_samples) {
        snprintf(error, error_size, "CharLS: a frame of %ux%ux%d samples of %d bits is beyond the limits",
                 frame.width, frame.height, frame.component_count, frame.bits_per_sample);
        goto done;
    }
    size_t bytes_per_sample = frame.bits_per_sample <= 8 ? 1 : 2;
    size_t destination_size = 0;
    code = charls_jpegls_decoder_get_destination_size(decoder, 0, &destination_size);
    if (code) { result = dd_jls_fail(error, error_size, "cannot size the frame", code); goto done; }
    if (destination_size != pixels * components * bytes_per_sample) {
        snprintf(error, error_size, "CharLS: unexpected decoded size %zu", destination_size);
        goto done;
    }
    decoded = malloc(destination_size + 1);
    if (!decoded) { snprintf(error, error_size, "CharLS: out of memory"); goto done; }
    code = charls_jpegls_decoder_decode_to_buffer(decoder, decoded, destination_size, 0);
    if (code) { result = dd_jls_fail(error, error_size, "cannot decode the frame", code); goto done; }
    if (interleave == CHARLS_INTERLEAVE_MODE_NONE && components > 1) {
        // Interleave none: CharLS returns one plane per component.
        samples = malloc(destination_size + 1);
        if (!samples) { snprintf(error, error_size, "CharLS: out of memory"); goto done; }
        for (size_t c = 0; c < components; c++) {
            for (size_t i = 0; i < pixels; i++) {
                memcpy(samples + (i * components + c) * bytes_per_sample, decoded + (c * pixels + i) * bytes_per_sample,
                       bytes_per_sample);
            }
        }
        free(decoded);
        decoded = NULL;
    } else {
        samples = decoded;
        decoded = NULL;
    }
    out->width = frame.width;
    out->height = frame.height;
    out->components = (int)components;
    out->precision = frame.bits_per_sample;
    out->color_transform = (int)transform;
    out->near_lossless = near_lossless;
    out->interleave = (int)interleave;
    out->samples = samples;
    out->size = destination_size;
    result = 0;
done:
    free(decoded);
    charls_jpegls_decoder_destroy(decoder);
    return result;
}
