// Out-of-bounds check of the kernels' indexing on the CPU: build with -fsanitize=address,undefined and run.
// Every frame and output buffer is allocated with exactly the bytes it owns, so any read or write past them
// (or signed overflow in the index arithmetic) aborts with a sanitizer report. Prints "ok <launches>" on success.
#include <stdio.h>
#include <stdlib.h>

#include "host_harness.cpp"

static JkParams params(int fmt, int w, int h, int pitch, int dw, int dh, int letterbox) {
    JkParams p;
    memset(&p, 0, sizeof p);
    p.src_w = w, p.src_h = h, p.src_pitch = pitch, p.uv_pitch = pitch;
    p.dst_w = dw, p.dst_h = dh;
    p.box_x = 0, p.box_y = 0, p.box_w = dw, p.box_h = dh;
    if (letterbox) {  // any box inside the output will do for bounds: take a centred, narrower one
        p.box_w = dw > 2 ? dw - 2 : dw;
        p.box_h = dh > 3 ? dh / 2 : dh;
        p.box_x = (dw - p.box_w) / 2;
        p.box_y = (dh - p.box_h) / 2;
    }
    p.pad = 114, p.swap_rb = fmt == 0;
    p.y_off = 16, p.ky = 298, p.rv = 409, p.gu = 100, p.gv = 208, p.bu = 516;
    p.scale = 1.0f / 255, p.inv_std[0] = p.inv_std[1] = p.inv_std[2] = 4.0f;
    return p;
}

int main() {
    static const int sizes[][4] = {{1, 1, 1, 1}, {2, 2, 7, 5}, {2, 2, 1, 1}, {3, 5, 640, 640}, {1000, 2, 5, 9},
                                   {2, 1000, 9, 5}, {64, 48, 64, 48}, {1922, 1080, 64, 64}, {38, 26, 1, 1}};
    static const char* names[3][2] = {{"jk_rgb_nchw_f32", "jk_rgb_nchw_f16"},
                                      {"jk_nv12_nchw_f32", "jk_nv12_nchw_f16"},
                                      {"jk_yuyv_nchw_f32", "jk_yuyv_nchw_f16"}};
    static const char* rgb8[3] = {0, "jk_nv12_rgb8", "jk_yuyv_rgb8"};
    int launches = 0;
    for (int fmt = 0; fmt < 3; ++fmt)
        for (const auto& s : sizes)
            for (int extra = 0; extra <= 3; extra += 3)
                for (int letterbox = 0; letterbox < 2; ++letterbox) {
                    int w = s[0], h = s[1];
                    if (fmt && (w % 2)) continue;
                    if (fmt == 1 && (h % 2)) continue;
                    int row = w * (fmt == 0 ? 3 : fmt == 1 ? 1 : 2), pitch = row + extra;
                    long long span = (long long)(h - 1) * pitch + row;
                    if (fmt == 1) span = (long long)h * pitch + (long long)(h / 2 - 1) * pitch + row;
                    jk_u8* src = (jk_u8*)malloc(span);
                    for (long long i = 0; i < span; ++i) src[i] = (jk_u8)(i * 37 + 11);
                    const jk_u8* uv = src + (long long)h * pitch;
                    JkParams p = params(fmt, w, h, pitch, s[2], s[3], letterbox);
                    for (int half = 0; half < 2; ++half) {
                        void* dst = malloc((size_t)3 * s[2] * s[3] * (half ? 2 : 4));
                        if (jk_host_run(names[fmt][half], src, uv, dst, &p)) return 2;
                        free(dst);
                        ++launches;
                    }
                    if (fmt) {
                        void* dst = malloc((size_t)3 * w * h);
                        if (jk_host_run(rgb8[fmt], src, uv, dst, &p)) return 2;
                        free(dst);
                        ++launches;
                    }
                    free(src);
                }
    printf("ok %d\n", launches);
    return 0;
}
