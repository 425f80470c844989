/* bcrnn.h: the deployed binarized CRNN (speech emotion recognition) in plain C99.
 *
 * The arithmetic is the integer reference's (bcrnn.reference, docs/numeric_spec.md) bit for bit; the model's
 * integers and bits are constant arrays in bcrnn_model.c, generated from model.packed.npz by
 * `bcrnn export-c RUN --out DIR`. No dynamic allocation, no libm: only memcpy/memset from the C library
 * (and, in the portable kernels, the compiler's popcount builtin).
 *
 * Feature front end (the caller's side of the contract)
 * -----------------------------------------------------
 * One segment is BCRNN_IN_CH x BCRNN_FRAMES x BCRNN_MELS int8 codes, C order (channel, frame, mel band):
 * channels log-Mel, delta, delta-delta, frames 10 ms apart (the model's feature_config, as bcrnn.features
 * computes them; an utterance is cut into segments by bcrnn.features.segment). The codes are
 *
 *     codes = quantize_features(normalize(features))                  (bcrnn.reference.model)
 *     normalize:          z = (x - mean[c][m]) / std[c][m]              float32
 *     quantize_features:  q = clamp(round_half_even(z * 2^BCRNN_INPUT_FRAC), -128, 127)
 *
 * with the model's statistics bcrnn_norm_mean / bcrnn_norm_std (BCRNN_NORMALIZATION "global"), or, for a model
 * trained with per-speaker normalization ("speaker"), the statistics of the speaker's own utterances, or, with
 * per-utterance normalization ("utterance"), those of the utterance's own frames (mean, and population std plus
 * 1e-5, per channel and band, summed in double: bcrnn.features.Normalizer.from_features).
 * bcrnn_quantize() does exactly these two steps in float32 (it needs FLT_EVAL_METHOD 0 and the default
 * round-to-nearest mode; it is not part of the integer path).
 *
 * Kernels (chosen at compile time): -DBCRNN_PORTABLE forces plain C on 64-bit words; otherwise the compiler's
 * target decides: AVX-512 (F, BW, VPOPCNTDQ; VNNI for the first convolution when available), then AVX2, then Arm
 * NEON (__ARM_NEON; sdot for the first convolution under __ARM_FEATURE_DOTPROD), then portable. bcrnn_kernel() names the one compiled in. All of them give the same integers.
 *
 * Not reentrant: the working buffers are static (one segment at a time per process).
 */
#ifndef BCRNN_H
#define BCRNN_H

#include <stdint.h>

#include "bcrnn_model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One segment's int8 feature codes (BCRNN_CODES values, see above) -> BCRNN_CLASSES integer logits (scale
 * 2^-BCRNN_LOGIT_FRAC; softmax of logit / 2^BCRNN_LOGIT_FRAC gives the class posteriors) and the returned label:
 * the index of the largest logit, the first one on ties (numpy.argmax, as the RTL's output_argmax). */
int bcrnn_segment(const int8_t *codes, int32_t *logits);

/* The kernel compiled in: "portable", "avx2", "avx512", "avx512-vnni", "neon" or "neon-dotprod". */
const char *bcrnn_kernel(void);

/* The front end's last two steps (float32, see above): features, mean and std as (channel, frame, mel) and
 * (channel, mel) arrays -> codes. */
void bcrnn_quantize(const float *features, const float *mean, const float *std, int8_t *codes);

/* Model data (bcrnn_model.c). */
extern const char *const bcrnn_classes[BCRNN_CLASSES];
extern const float bcrnn_norm_mean[BCRNN_IN_CH * BCRNN_MELS];
extern const float bcrnn_norm_std[BCRNN_IN_CH * BCRNN_MELS];
extern const char bcrnn_model_sha256[];

#ifdef BCRNN_TRACE
/* Debug build (-DBCRNN_TRACE): every layer boundary of bcrnn.reference's forward(trace=True) ("input", "conv0",
 * ..., "dense", "lstm", "pool", "fc", "logits"), in the reference's layout and order (bits as 0/1), handed to
 * `fn` during bcrnn_segment; without a function set, they are printed to stderr. */
typedef void (*bcrnn_trace_fn)(const char *name, const int32_t *values, int32_t count, int32_t ndim,
                               const int32_t *shape, void *user);
void bcrnn_set_trace(bcrnn_trace_fn fn, void *user);
#endif

#ifdef __cplusplus
}
#endif

#endif /* BCRNN_H */
