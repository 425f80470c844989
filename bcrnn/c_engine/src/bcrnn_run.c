/* bcrnn_run.c: a standalone driver of the engine, for targets without Python (an Arm Linux board, a Cortex-M
 * under semihosting): segments' int8 feature codes in, logits and labels (and, built with -DBCRNN_TRACE, every
 * layer boundary) out, as text that bcrnn.c_engine.cross parses.
 *
 *     bcrnn_run [IN [OUT]]      IN: BCRNN_CODES bytes per segment (C order, as bcrnn_segment takes them);
 *                               "-" or absent: stdin / stdout
 *
 * Output, one line each:
 *     bcrnn_run kernel KERNEL model SHA256 codes N classes C trace 0|1
 *     T SEGMENT NAME NDIM DIM... : V...   every layer boundary in order, C order (trace builds only)
 *     S SEGMENT LABEL LOGIT...            the segment's label and integer logits
 *     end SEGMENTS
 * A partial last segment is an error (exit 1). Needs stdio only (newlib with semihosting on bare metal).
 */
#include <stdio.h>
#include <string.h>

#include "bcrnn.h"

static FILE *out;
static char line[4096];
static size_t used;

static void flush_line(void) {
    fwrite(line, 1, used, out);
    used = 0;
}

static void put_text(const char *s) {
    for (; *s; s++) {
        if (used == sizeof line) flush_line();
        line[used++] = *s;
    }
}

/* decimal integers by hand: printf per value costs far more under an emulator */
static void put_int(long v) {
    char digits[24];
    int n = 0;
    unsigned long u = v < 0 ? 0ul - (unsigned long)v : (unsigned long)v;
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (used + (size_t)n + 2 > sizeof line) flush_line();
    line[used++] = ' ';
    if (v < 0) line[used++] = '-';
    while (n) line[used++] = digits[--n];
}

static long segment_index;

#ifdef BCRNN_TRACE
static void on_boundary(const char *name, const int32_t *values, int32_t count, int32_t ndim, const int32_t *shape,
                        void *user) {
    (void)user;
    put_text("T");
    put_int(segment_index);
    put_text(" ");
    put_text(name);
    put_int(ndim);
    for (int32_t i = 0; i < ndim; i++) put_int(shape[i]);
    put_text(" :");
    for (int32_t i = 0; i < count; i++) put_int(values[i]);
    put_text("\n");
}
#endif

int main(int argc, char **argv) {
    static int8_t codes[BCRNN_CODES];
    int32_t logits[BCRNN_CLASSES];
    FILE *in = stdin;
    out = stdout;
    if (argc > 1 && strcmp(argv[1], "-") != 0 && !(in = fopen(argv[1], "rb"))) {
        fprintf(stderr, "bcrnn_run: cannot open %s\n", argv[1]);
        return 1;
    }
    if (argc > 2 && strcmp(argv[2], "-") != 0 && !(out = fopen(argv[2], "wb"))) {
        fprintf(stderr, "bcrnn_run: cannot write %s\n", argv[2]);
        return 1;
    }
#ifdef BCRNN_TRACE
    bcrnn_set_trace(on_boundary, NULL);
    const int traced = 1;
#else
    const int traced = 0;
#endif
    put_text("bcrnn_run kernel ");
    put_text(bcrnn_kernel());
    put_text(" model ");
    put_text(bcrnn_model_sha256);
    put_text(" codes");
    put_int(BCRNN_CODES);
    put_text(" classes");
    put_int(BCRNN_CLASSES);
    put_text(" trace");
    put_int(traced);
    put_text("\n");
    size_t got;
    while ((got = fread(codes, 1, sizeof codes, in)) == sizeof codes) {
        const int label = bcrnn_segment(codes, logits);
        put_text("S");
        put_int(segment_index);
        put_int(label);
        for (int32_t c = 0; c < BCRNN_CLASSES; c++) put_int(logits[c]);
        put_text("\n");
        segment_index++;
    }
    put_text("end");
    put_int(segment_index);
    put_text("\n");
    flush_line();
    if (in != stdin) fclose(in);
    int failed = ferror(out) != 0;
    failed |= (out != stdout ? fclose(out) : fflush(out)) != 0;
    if (failed) {
        fprintf(stderr, "bcrnn_run: writing the output failed\n");
        return 1;
    }
    if (got != 0) {
        fprintf(stderr, "bcrnn_run: %lu bytes after the last whole segment (%d bytes each)\n", (unsigned long)got,
                BCRNN_CODES);
        return 1;
    }
    return 0;
}
