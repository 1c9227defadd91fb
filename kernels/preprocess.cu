// jetsonkit GPU pre-processing: camera frame -> network input in one pass.
//
// Entry points (extern "C", one thread per output pixel, 2-D grid over the output plane):
//   jk_rgb_nchw_f32 / _f16    packed 3-channel uint8 frame (RGB or BGR, pitched rows)
//   jk_nv12_nchw_f32 / _f16   NV12: Y plane + interleaved UV plane at half resolution (both pitched)
//   jk_yuyv_nchw_f32 / _f16   YUYV (YUY2): Y0 U Y1 V per pixel pair (pitched rows)
//   jk_nv12_rgb8 / jk_yuyv_rgb8  colour conversion only: uint8 HWC RGB (or BGR) at the frame's size
// Each *_nchw kernel fuses: colour conversion -> letterbox / plain bilinear resize -> optional R<->B swap ->
// normalisation (x * scale - mean) * inv_std -> NCHW float32 or float16 store.
//
// The arithmetic is specified by, and must match bit for bit, jetsonkit/preprocess/reference.py:
//   * bilinear resize, half-pixel centres (the convention of OpenCV's INTER_LINEAR): the source position of output
//     column d inside the box is ((2d + 1) * src - box) / (2 * box), floored onto a 1/2048 grid in 64-bit integers;
//     negative positions clamp to 0 and positions at or past the last pixel replicate it (edge replicate).
//   * 11-bit fixed-point weights, integer accumulation, one rounding (add 2^21, shift right by 22) to uint8.
//   * YUV -> RGB in integer fixed point x256 (coefficients are parameters; BT.601 limited range by default, after
//     Microsoft's "Converting 8-bit YUV to RGB888"); chroma is taken from the pixel's 2x2 (NV12) or 2x1 (YUYV)
//     block without interpolation; each bilinear tap is converted to RGB before interpolation.
//   * normalisation in float32 with explicit round-to-nearest intrinsics (no FMA contraction): t = x * scale;
//     t = t - mean; t = t * inv_std; float16 is the round-to-nearest-even conversion of that float32.
// No #include: the same source compiles with nvcc, NVRTC and (with tests/kernels/host_shim.h) a host C++ compiler.

typedef unsigned char jk_u8;

struct JkParams {
    int src_w, src_h;                 // frame size in pixels
    int src_pitch;                    // bytes between rows of the frame (NV12: of the Y plane)
    int uv_pitch;                     // NV12: bytes between rows of the UV plane (unused otherwise)
    int dst_w, dst_h;                 // output plane size in pixels
    int box_x, box_y, box_w, box_h;   // the rectangle of the output that the resized frame fills
    int pad;                          // uint8 value outside the box (normalised like a pixel)
    int swap_rb;                      // 1: swap channels 0 and 2 before the store
    int y_off, ky, rv, gu, gv, bu;    // YUV -> RGB: c = (Y - y_off) * ky, U' = U - 128, V' = V - 128;
                                      // R = c + rv*V', G = c - gu*U' - gv*V', B = c + bu*U' (then + 128 >> 8)
    float scale;                      // normalisation: (x * scale - mean[c]) * inv_std[c]
    float mean[3];
    float inv_std[3];
};

struct JkRgb {
    int r, g, b;
};

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define JK_DEV __device__ __forceinline__
#define JK_FMUL(a, b) __fmul_rn((a), (b))
#define JK_FSUB(a, b) __fsub_rn((a), (b))
#else  // host compilation (tests): build with -ffp-contract=off so these are single roundings too
#define JK_DEV static inline
#define JK_FMUL(a, b) ((a) * (b))
#define JK_FSUB(a, b) ((a) - (b))
#endif

JK_DEV int jk_clamp255(int v) { return v < 0 ? 0 : (v > 255 ? 255 : v); }

JK_DEV JkRgb jk_yuv_to_rgb(int y, int u, int v, const JkParams& p) {
    int c = (y - p.y_off) * p.ky;
    int d = u - 128;
    int e = v - 128;
    JkRgb o;
    o.r = jk_clamp255((c + p.rv * e + 128) >> 8);
    o.g = jk_clamp255((c - p.gu * d - p.gv * e + 128) >> 8);
    o.b = jk_clamp255((c + p.bu * d + 128) >> 8);
    return o;
}

// FMT: 0 packed 3-channel, 1 NV12, 2 YUYV. (x, y) is inside the frame.
template <int FMT>
JK_DEV JkRgb jk_fetch(const jk_u8* src, const jk_u8* uv, const JkParams& p, int x, int y) {
    if (FMT == 0) {
        const jk_u8* q = src + (long long)y * p.src_pitch + 3 * x;
        JkRgb o;
        o.r = q[0];
        o.g = q[1];
        o.b = q[2];
        return o;
    } else if (FMT == 1) {
        const jk_u8* c = uv + (long long)(y >> 1) * p.uv_pitch + (x & ~1);
        return jk_yuv_to_rgb(src[(long long)y * p.src_pitch + x], c[0], c[1], p);
    } else {
        const jk_u8* q = src + (long long)y * p.src_pitch + (x >> 1) * 4;
        return jk_yuv_to_rgb(q[(x & 1) * 2], q[1], q[3], p);
    }
}

// Source index pair and 11-bit weight of the second tap for output coordinate d (0 <= d < box) along one axis.
JK_DEV void jk_axis(int d, int box, int src, int* i0, int* i1, int* w1) {
    long long num = ((long long)(2 * d + 1) * src - box) * 2048;
    long long pos = num <= 0 ? 0 : num / (2LL * box);
    int i = (int)(pos >> 11);
    int w = (int)(pos & 2047);
    if (i >= src - 1) {
        i = src - 1;
        w = 0;
    }
    *i0 = i;
    *i1 = i + 1 < src ? i + 1 : i;
    *w1 = w;
}

JK_DEV int jk_lerp2(int a, int b, int c, int d, int wx, int wy) {
    int top = a * (2048 - wx) + b * wx;
    int bot = c * (2048 - wx) + d * wx;
    return (top * (2048 - wy) + bot * wy + (1 << 21)) >> 22;
}

// float32 -> float16 bits, round to nearest even (the device uses the hardware conversion).
JK_DEV unsigned short jk_f2h(float f) {
#if defined(__CUDA_ARCH__)
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
#else
    union { float f; unsigned int u; } v;
    v.f = f;
    unsigned int u = v.u;
    unsigned int sign = (u >> 16) & 0x8000u;
    unsigned int absu = u & 0x7fffffffu;
    if (absu >= 0x7f800000u) return (unsigned short)(sign | 0x7c00u | (absu > 0x7f800000u ? 0x200u : 0u));
    if (absu >= 0x477ff000u) return (unsigned short)(sign | 0x7c00u);  // rounds to >= 65520: infinity
    if (absu < 0x38800000u) {                                         // subnormal half (or zero)
        if (absu < 0x33000000u) return (unsigned short)sign;
        unsigned int mant = (absu & 0x7fffffu) | 0x800000u;
        int shift = 126 - (int)(absu >> 23);  // value = mant * 2^(e - 150); half units are 2^-24
        unsigned int half = mant >> shift;
        unsigned int rem = mant & ((1u << shift) - 1u);
        unsigned int mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1u))) half++;
        return (unsigned short)(sign | half);
    }
    unsigned int h = ((absu - 0x38000000u) >> 13);
    unsigned int rem = absu & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
    return (unsigned short)(sign | h);
#endif
}

JK_DEV void jk_store(float* dst, int i, float v) { dst[i] = v; }
JK_DEV void jk_store(unsigned short* dst, int i, float v) { dst[i] = jk_f2h(v); }

template <int FMT, typename OutT>
JK_DEV void jk_preprocess(const jk_u8* src, const jk_u8* uv, OutT* dst, const JkParams& p, int x, int y) {
    int ch[3];
    int bx = x - p.box_x;
    int by = y - p.box_y;
    if (bx < 0 || by < 0 || bx >= p.box_w || by >= p.box_h) {
        ch[0] = ch[1] = ch[2] = p.pad;
    } else {
        int x0, x1, wx, y0, y1, wy;
        jk_axis(bx, p.box_w, p.src_w, &x0, &x1, &wx);
        jk_axis(by, p.box_h, p.src_h, &y0, &y1, &wy);
        JkRgb a = jk_fetch<FMT>(src, uv, p, x0, y0);
        JkRgb b = jk_fetch<FMT>(src, uv, p, x1, y0);
        JkRgb c = jk_fetch<FMT>(src, uv, p, x0, y1);
        JkRgb d = jk_fetch<FMT>(src, uv, p, x1, y1);
        ch[0] = jk_lerp2(a.r, b.r, c.r, d.r, wx, wy);
        ch[1] = jk_lerp2(a.g, b.g, c.g, d.g, wx, wy);
        ch[2] = jk_lerp2(a.b, b.b, c.b, d.b, wx, wy);
    }
    if (p.swap_rb) {
        int t = ch[0];
        ch[0] = ch[2];
        ch[2] = t;
    }
    int plane = p.dst_w * p.dst_h;
    int at = y * p.dst_w + x;
    for (int k = 0; k < 3; ++k) {
        float t = JK_FMUL((float)ch[k], p.scale);
        t = JK_FSUB(t, p.mean[k]);
        t = JK_FMUL(t, p.inv_std[k]);
        jk_store(dst, k * plane + at, t);
    }
}

template <int FMT>
JK_DEV void jk_convert_rgb8(const jk_u8* src, const jk_u8* uv, jk_u8* dst, const JkParams& p, int x, int y) {
    JkRgb o = jk_fetch<FMT>(src, uv, p, x, y);
    jk_u8* q = dst + ((long long)y * p.src_w + x) * 3;
    q[0] = (jk_u8)(p.swap_rb ? o.b : o.r);
    q[1] = (jk_u8)o.g;
    q[2] = (jk_u8)(p.swap_rb ? o.r : o.b);
}

#define JK_XY(W, H)                                  \
    int x = blockIdx.x * blockDim.x + threadIdx.x;  \
    int y = blockIdx.y * blockDim.y + threadIdx.y;  \
    if (x >= (W) || y >= (H)) return;

#define JK_NCHW_KERNEL(NAME, FMT, OUT)                                                                   \
    extern "C" __global__ void NAME(const jk_u8* src, const jk_u8* uv, OUT* dst, JkParams p) {          \
        JK_XY(p.dst_w, p.dst_h)                                                                          \
        jk_preprocess<FMT, OUT>(src, uv, dst, p, x, y);                                                  \
    }

JK_NCHW_KERNEL(jk_rgb_nchw_f32, 0, float)
JK_NCHW_KERNEL(jk_rgb_nchw_f16, 0, unsigned short)
JK_NCHW_KERNEL(jk_nv12_nchw_f32, 1, float)
JK_NCHW_KERNEL(jk_nv12_nchw_f16, 1, unsigned short)
JK_NCHW_KERNEL(jk_yuyv_nchw_f32, 2, float)
JK_NCHW_KERNEL(jk_yuyv_nchw_f16, 2, unsigned short)

extern "C" __global__ void jk_nv12_rgb8(const jk_u8* src, const jk_u8* uv, jk_u8* dst, JkParams p) {
    JK_XY(p.src_w, p.src_h)
    jk_convert_rgb8<1>(src, uv, dst, p, x, y);
}

extern "C" __global__ void jk_yuyv_rgb8(const jk_u8* src, const jk_u8* uv, jk_u8* dst, JkParams p) {
    JK_XY(p.src_w, p.src_h)
    jk_convert_rgb8<2>(src, uv, dst, p, x, y);
}
