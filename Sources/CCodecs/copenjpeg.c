// OpenJPEG decoding one JPEG 2000 frame from memory. OpenJPEG reports errors through
// callbacks (printed to stderr by default) and a false return: the first error message is
// kept here and returned with the code. It never exits, but Debian's build keeps its
// assert()s, and its HTJ2K decoder asserts on codestreams a damaged or crafted file holds
// (ht_dec.c, mel_init: found by fuzz-pixels): glibc's assert aborts the process.
#include "ccodecs.h"

#include <assert.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openjpeg-2.5/openjpeg.h>

typedef struct {
    const unsigned char *data;
    size_t size;
    size_t position;
} dd_memory_stream;

typedef struct {
    char message[256];
    char *warning;
} dd_j2k_messages;

static OPJ_SIZE_T dd_stream_read(void *buffer, OPJ_SIZE_T count, void *user) {
    dd_memory_stream *stream = user;
    size_t left = stream->size - stream->position;
    if (left == 0) return (OPJ_SIZE_T)-1;
    size_t taken = count < left ? count : left;
    memcpy(buffer, stream->data + stream->position, taken);
    stream->position += taken;
    return taken;
}

static OPJ_OFF_T dd_stream_skip(OPJ_OFF_T count, void *user) {
    dd_memory_stream *stream = user;
    if (count < 0) {
        size_t back = (size_t)(-count);
        if (back > stream->position) back = stream->position;
        stream->position -= back;
        return -(OPJ_OFF_T)back;
    }
    size_t left = stream->size - stream->position;
    size_t taken = (size_t)count < left ? (size_t)count : left;
    stream->position += taken;
    return (OPJ_OFF_T)taken;
}

static OPJ_BOOL dd_stream_seek(OPJ_OFF_T position, void *user) {
    dd_memory_stream *stream = user;
    if (position < 0 || (size_t)position > stream->size) return OPJ_FALSE;
    stream->position = (size_t)position;
    return OPJ_TRUE;
}

// Keeps the first of OpenJPEG's messages (they end in a newline) in `target`.
static void dd_keep_first(char *target, size_t size, const char *message) {
    if (target[0] != 0) return;
    snprintf(target, size, "%s", message);
    size_t length = strlen(target);
    while (length > 0 && (target[length - 1] == '\n' || target[length - 1] == ' ')) target[--length] = 0;
}

static void dd_j2k_error(const char *message, void *user) {
    dd_j2k_messages *messages = user;
    dd_keep_first(messages->message, sizeof(messages->message), message);
}

// The first warning is kept for the ledger: OpenJPEG 2.5.0 decodes a codestream that stops
// before its last tiles "successfully", the missing tiles left black, and says so only here.
static void dd_j2k_warning(const char *message, void *user) {
    dd_j2k_messages *messages = user;
    dd_keep_first(messages->warning, sizeof(((dd_decoded_frame *)0)->warning), message);
}

static void dd_j2k_quiet(const char *message, void *user) { (void)message; (void)user; }

// Where a failed assertion inside this thread's OpenJPEG decode goes back to, and what it
// said; NULL outside a decode.
static _Thread_local jmp_buf *dd_assert_escape;
static _Thread_local char dd_assert_message[200];

// glibc's assert() calls __assert_fail. Defined in the executable, this definition is the
// one libopenjp2 (and every other library) binds to. Inside a decode it goes back to
// dd_j2k_decode, which fails the frame with the assertion's words; OpenJPEG's allocations
// for the code-block it was decoding are lost (bounded by the frame). Anywhere else it does
// what glibc's does: the message, then abort.
void __assert_fail(const char *assertion, const char *file, unsigned int line, const char *function) {
    if (dd_assert_escape) {
        const char *name = strrchr(file, '/');
        snprintf(dd_assert_message, sizeof(dd_assert_message), "%s:%u %s: assertion '%s' failed", name ? name + 1 : file, line,
                 function, assertion);
        longjmp(*dd_assert_escape, 1);
    }
    fprintf(stderr, "%s:%u: %s: Assertion `%s' failed.\n", file, line, function, assertion);
    fflush(stderr);
    abort();
}

static int dd_j2k_fail(char *error, size_t error_size, const char *what, const dd_j2k_messages *messages) {
    if (messages->message[0]) {
        snprintf(error, error_size, "OpenJPEG: %s: %s", what, messages->message);
    } else {
        snprintf(error, error_size, "OpenJPEG: %s", what);
    }
    return -1;
}

int dd_j2k_decode(const unsigned char *data, size_t size, size_t max_samples,
                  dd_decoded_frame *out, char *error, size_t error_size) {
    memset(out, 0, sizeof(*out));
    out->adobe_transform = -1;
    // A JP2 file starts with its signature box; a bare codestream with SOC (FF 4F).
    static const unsigned char jp2_signature[] = {0, 0, 0, 0x0C, 0x6A, 0x50, 0x20, 0x20};
    int is_jp2 = size >= 8 && memcmp(data, jp2_signature, 8) == 0;
    if (!is_jp2 && (size < 2 || data[0] != 0xFF || data[1] != 0x4F)) {
        snprintf(error, error_size, "OpenJPEG: the frame starts with neither a JPEG 2000 SOC marker nor a JP2 signature");
        return -1;
    }
    dd_j2k_messages messages = {{0}, out->warning};
    dd_memory_stream source = {data, size, 0};
    opj_codec_t *codec = opj_create_decompress(is_jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K);
    opj_stream_t *stream = opj_stream_create(size < 1 << 20 ? size + 1 : 1 << 20, OPJ_TRUE);
    // volatile: assigned between setjmp and a possible longjmp.
    opj_image_t *volatile image = NULL;
    int result = -1;
    jmp_buf escape;
    if (setjmp(escape)) {
        snprintf(error, error_size, "OpenJPEG: cannot decode the frame: %s", dd_assert_message);
        result = -1;
        goto done;
    }
    if (!codec || !stream) {
        result = dd_j2k_fail(error, error_size, "cannot create a decoder", &messages);
        goto done;
    }
    opj_set_error_handler(codec, dd_j2k_error, &messages);
    opj_set_warning_handler(codec, dd_j2k_warning, &messages);
    opj_set_info_handler(codec, dd_j2k_quiet, NULL);
    opj_stream_set_user_data(stream, &source, NULL);
    opj_stream_set_user_data_length(stream, size);
    opj_stream_set_read_function(stream, dd_stream_read);
    opj_stream_set_skip_function(stream, dd_stream_skip);
    opj_stream_set_seek_function(stream, dd_stream_seek);
    opj_dparameters_t parameters;
    opj_set_default_decoder_parameters(&parameters);
    // A JP2 palette (pclr/cmap) would turn one component into up to 255 after the size
    // check; DICOM frames carry their palette in the dataset, never in the codestream.
    parameters.flags |= OPJ_DPARAMETERS_IGNORE_PCLR_CMAP_CDEF_FLAG;
    if (!opj_setup_decoder(codec, &parameters)) {
        result = dd_j2k_fail(error, error_size, "cannot set up the decoder", &messages);
        goto done;
    }
    // On this thread, whatever OPJ_NUM_THREADS says: an assertion in a thread of OpenJPEG's
    // pool could not come back here.
    opj_codec_set_threads(codec, 0);
    dd_assert_escape = &escape;
    opj_image_t *header_image = NULL;
    OPJ_BOOL header_read = opj_read_header(stream, codec, &header_image);
    image = header_image;
    if (!header_read || !image) {
        result = dd_j2k_fail(error, error_size, "cannot read the main header", &messages);
        goto done;
    }
    unsigned width = image->x1 - image->x0, height = image->y1 - image->y0;
    if (image->numcomps < 1 || image->numcomps > 4 || image->x1 <= image->x0 || image->y1 <= image->y0
        || (size_t)width * height * image->numcomps > max_samples) {
        snprintf(error, error_size, "OpenJPEG: a frame of %ux%ux%u samples is beyond the limit", width, height, image->numcomps);
        goto done;
    }
    if (!opj_decode(codec, stream, image) || !opj_end_decompress(codec, stream)) {
        result = dd_j2k_fail(error, error_size, "cannot decode the frame", &messages);
        goto done;
    }
    if (image->numcomps < 1 || image->numcomps > 4) {
        snprintf(error, error_size, "OpenJPEG: %u components after decoding", image->numcomps);
        goto done;
    }
    int precision = 0, is_signed = 0;
    for (unsigned c = 0; c < image->numcomps; c++) {
        opj_image_comp_t *component = &image->comps[c];
        if (component->dx != 1 || component->dy != 1 || component->w != width || component->h != height || !component->data) {
            snprintf(error, error_size, "OpenJPEG: component %u is subsampled (%ux%u), which DICOM images do not use", c + 1,
                     component->dx, component->dy);
            goto done;
        }
        if ((int)component->prec > precision) precision = (int)component->prec;
        if (component->sgnd) is_signed = 1;
    }
    if (precision < 1 || precision > 16) {
        snprintf(error, error_size, "OpenJPEG: a precision of %d bits is beyond 16", precision);
        goto done;
    }
    opj_codestream_info_v2_t *info = opj_get_cstr_info(codec);
    if (info) {
        out->color_transform = (int)info->m_default_tile_info.mct;
        opj_destroy_cstr_info(&info);
    }
    size_t bytes_per_sample = precision <= 8 ? 1 : 2;
    size_t pixels = (size_t)width * height, components = image->numcomps;
    unsigned char *samples = malloc(pixels * components * bytes_per_sample + 1);
    if (!samples) {
        snprintf(error, error_size, "OpenJPEG: out of memory");
        goto done;
    }
    // OpenJPEG holds each component as a plane of int32: interleaved into words, two's
    // complement for signed samples.
    for (size_t c = 0; c < components; c++) {
        const OPJ_INT32 *plane = image->comps[c].data;
        if (bytes_per_sample == 1) {
            for (size_t i = 0; i < pixels; i++) samples[i * components + c] = (unsigned char)plane[i];
        } else {
            uint16_t *words = (uint16_t *)samples;
            for (size_t i = 0; i < pixels; i++) words[i * components + c] = (uint16_t)plane[i];
        }
    }
    out->width = width;
    out->height = height;
    out->components = (int)components;
    out->precision = precision;
    out->is_signed = is_signed;
    out->samples = samples;
    out->size = pixels * components * bytes_per_sample;
    result = 0;
done:
    dd_assert_escape = NULL;
    if (image) opj_image_destroy(image);
    if (stream) opj_stream_destroy(stream);
    if (codec) opj_destroy_codec(codec);
    return result;
}
