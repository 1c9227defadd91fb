/* The CPU frame path of a PreprocessSpec in C: resize a packed 3-channel uint8 window into a box of the output
 * canvas (the rest is `pad`), optional R/B swap, normalise, NCHW or NHWC, float32 / float16 / uint8.
 *
 * It follows jetsonkit/preprocess/reference.py operation by operation, so the bytes are the same: the taps
 * (source indices i0, i1 and 11-bit weight of i1 per output index) come from reference.axis_taps; the taps combine
 * in integers, x first then y, rounded once: ((top * (2048 - wy) + bottom * wy) + 2^21) >> 22; normalisation is
 * three float32 operations, t = x * scale; t = t - mean[c]; t = t * inv_std[c] (build with -ffp-contract=off so
 * no FMA fuses two roundings); float16 is round-to-nearest-even of that float32.
 */
#include <stdint.h>
#include <string.h>

typedef struct {
    int32_t src_w, src_h, src_pitch, swap_rb;
    int32_t box_x, box_y, box_w, box_h, dst_w, dst_h, pad, nchw, dtype; /* dtype 0 float32, 1 float16, 2 uint8 */
    float scale, mean[3], inv_std[3];
} JkFrame;

static uint16_t f32_to_f16(float value) {
    uint32_t x;
    memcpy(&x, &value, 4);
    uint32_t sign = (x >> 16) & 0x8000u, exp = (x >> 23) & 0xffu, man = x & 0x7fffffu;
    if (exp == 0xffu) return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0u));
    int32_t e = (int32_t)exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) { /* subnormal half (or zero) */
        if (e < -10) return (uint16_t)sign;
        man |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t half = man >> shift, rest = man & ((1u << shift) - 1u), mid = 1u << (shift - 1u);
        if (rest > mid || (rest == mid && (half & 1u))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)e << 10) | (man >> 13), rest = man & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) half++; /* a carry into the exponent is still right */
    return (uint16_t)(sign | half);
}

static inline void store(const JkFrame *p, void *out, int64_t plane, int64_t pixel, int c, int v) {
    int64_t i = p->nchw ? (int64_t)c * plane + pixel : pixel * 3 + c;
    if (p->dtype == 2) { ((uint8_t *)out)[i] = (uint8_t)v; return; }
    float t = (float)v * p->scale;
    t = t - p->mean[c];
    t = t * p->inv_std[c];
    if (p->dtype == 0) ((float *)out)[i] = t;
    else ((uint16_t *)out)[i] = f32_to_f16(t);
}

int jk_frame(const JkFrame *p, const uint8_t *src, const int32_t *x0, const int32_t *x1, const int32_t *wx,
             const int32_t *y0, const int32_t *y1, const int32_t *wy, void *out) {
    const int64_t plane = (int64_t)p->dst_w * p->dst_h;
    const int s0 = p->swap_rb ? 2 : 0, s2 = p->swap_rb ? 0 : 2;
    for (int y = 0; y < p->dst_h; y++) {
        int in_rows = y >= p->box_y && y < p->box_y + p->box_h;
        int by = y - p->box_y;
        const uint8_t *r0 = in_rows ? src + (int64_t)y0[by] * p->src_pitch : 0;
        const uint8_t *r1 = in_rows ? src + (int64_t)y1[by] * p->src_pitch : 0;
        int32_t b = in_rows ? wy[by] : 0, a = 2048 - b;
        for (int x = 0; x < p->dst_w; x++) {
            int64_t pixel = (int64_t)y * p->dst_w + x;
            if (!in_rows || x < p->box_x || x >= p->box_x + p->box_w) {
                for (int c = 0; c < 3; c++) store(p, out, plane, pixel, c, p->pad);
                continue;
            }
            int bx = x - p->box_x;
            int32_t i0 = x0[bx] * 3, i1 = x1[bx] * 3, q = wx[bx], o = 2048 - q;
            int v[3];
            for (int c = 0; c < 3; c++) {
                int32_t top = r0[i0 + c] * o + r0[i1 + c] * q;
                int32_t bot = r1[i0 + c] * o + r1[i1 + c] * q;
                v[c] = (top * a + bot * b + (1 << 21)) >> 22;
            }
            store(p, out, plane, pixel, 0, v[s0]);
            store(p, out, plane, pixel, 1, v[1]);
            store(p, out, plane, pixel, 2, v[s2]);
        }
    }
    return 0;
}

int jk_frame_struct_size(void) { return (int)sizeof(JkFrame); }
