// Runs kernels/preprocess.cu on the CPU: the CUDA keywords become plain C++ and each launch becomes a loop over the
// grid, one "thread" at a time. This checks the kernels' own arithmetic against the numpy reference on machines
// without a GPU; it says nothing about CUDA itself (the gpu tests do that). Build: g++ -O2 -ffp-contract=off.
#include <string.h>

struct JkDim3 {
    unsigned x, y, z;
};
static JkDim3 blockIdx, threadIdx, blockDim;
#define __global__
#define __device__
#define __forceinline__

#include "preprocess.cu"

extern "C" int jk_host_sizeof_params() { return (int)sizeof(JkParams); }

#define JK_GRID(W, H, CALL)                                                              \
    blockDim.x = 16;                                                                     \
    blockDim.y = 8;                                                                      \
    for (blockIdx.y = 0; blockIdx.y < (unsigned)((H) + 7) / 8; ++blockIdx.y)              \
        for (blockIdx.x = 0; blockIdx.x < (unsigned)((W) + 15) / 16; ++blockIdx.x)        \
            for (threadIdx.y = 0; threadIdx.y < 8; ++threadIdx.y)                        \
                for (threadIdx.x = 0; threadIdx.x < 16; ++threadIdx.x) CALL;             \
    return 0;

#define JK_CASE(NAME, OUT, W, H) \
    if (!strcmp(name, #NAME)) { JK_GRID(W, H, NAME(src, uv, (OUT*)dst, *p)) }

// Returns 0, or -1 for an unknown kernel name.
extern "C" int jk_host_run(const char* name, const jk_u8* src, const jk_u8* uv, void* dst, const JkParams* p) {
    JK_CASE(jk_rgb_nchw_f32, float, p->dst_w, p->dst_h)
    JK_CASE(jk_rgb_nchw_f16, unsigned short, p->dst_w, p->dst_h)
    JK_CASE(jk_nv12_nchw_f32, float, p->dst_w, p->dst_h)
    JK_CASE(jk_nv12_nchw_f16, unsigned short, p->dst_w, p->dst_h)
    JK_CASE(jk_yuyv_nchw_f32, float, p->dst_w, p->dst_h)
    JK_CASE(jk_yuyv_nchw_f16, unsigned short, p->dst_w, p->dst_h)
    JK_CASE(jk_nv12_rgb8, jk_u8, p->src_w, p->src_h)
    JK_CASE(jk_yuyv_rgb8, jk_u8, p->src_w, p->src_h)
    return -1;
}

// float32 -> float16 bits by the kernel's host conversion, for an exhaustive-ish check against numpy.
extern "C" void jk_host_f2h(const float* x, unsigned short* out, int n) {
    for (int i = 0; i < n; ++i) out[i] = jk_f2h(x[i]);
}
