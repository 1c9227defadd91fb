/* One pass of the streaming |x| histogram over a float32 vector; histogram.py has the scheme and the reference.
 *
 * histogram.py's numpy code (_BatchScan._scan_numpy) is the reference: this file computes the same counts, bit for
 * bit, and the same statistics (sums in double instead of float32 chunks), reading each value from memory once
 * instead of about ten numpy passes. calibrators/_native.py compiles it at run time with the C compiler present
 * (plain C99, no Python headers) and loads it with ctypes; without a compiler the numpy code runs.
 *
 * Bins: width w = 2^e, bin k = [k w, (k + 1) w) for k < nb, and raw[nb] counts the values exactly on the top edge
 * nb * w. A chunk holding a value beyond the top edge first doubles w until it fits, summing neighbouring bins in
 * pairs (exact). The bin index is trunc(|x| * 2^-e): exact in float32 while 2^-e is a normal float32, in double
 * otherwise, as in the numpy code.
 *
 * Per chunk of JK_CHUNK values (it stays in L1 between the passes): (1) statistics -- signed min / max as ordered
 * int32 keys of the float bits (vectorises without fast-math; NaN and Inf show up as extreme keys), exact zeros,
 * sums of x and x^2 in double; (2) the bin indices; (3) the counts, into JK_LANES interleaved sub-histograms so that
 * runs of one bin (ReLU zeros) do not chain increments through memory.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define JK_CHUNK 4096
#define JK_LANES 4
#define JK_NO_WIDTH INT32_MIN
#define JK_KEY_NEG_INF ((int32_t)0x807fffff) /* key of -Inf: NaN and -Inf have keys <= this, +Inf and NaN >= */
#define JK_KEY_POS_INF ((int32_t)0x7f800000)

enum { JK_OK = 0, JK_NONFINITE = 1, JK_NOMEM = 2 };

/* float bits -> int32 key with the order of the floats (negative floats: magnitude bits flipped). */
static inline int32_t key_of(int32_t bits) { return bits ^ ((bits >> 31) & 0x7fffffff); }

static float float_of_key(int32_t key) {
    int32_t bits = key_of(key); /* the map is its own inverse */
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

/* The smallest e with a <= nb * 2^e (a > 0 and finite; nb a power of two). */
static int32_t fit_exponent(double a, int32_t nb) {
    int k;
    double m = frexp(a / nb, &k); /* a / nb = m 2^k with m in [0.5, 1); exact, nb is a power of two */
    return m == 0.5 ? k - 1 : k;
}

/* Add the lanes into raw (nb + 1 entries) and clear them. */
static void flush(uint32_t *lanes, int64_t *raw, int32_t nb) {
    for (int l = 0; l < JK_LANES; l++) {
        uint32_t *lane = lanes + (size_t)l * (size_t)(nb + 1);
        for (int32_t k = 0; k <= nb; k++) raw[k] += lane[k];
        memset(lane, 0, sizeof(uint32_t) * (size_t)(nb + 1));
    }
}

/* raw at 2^shift times the bin width: bins summed in groups of 2^shift; the top-edge count lands on bin
 * nb >> shift (the left edge of that bin at the wider width; bin 0 once the factor exceeds nb). */
static void widen(int64_t *raw, int32_t nb, int32_t shift) {
    int64_t edge = raw[nb];
    int32_t out = shift >= 31 ? 0 : nb >> shift;
    if (out == 0) {
        int64_t all = 0;
        for (int32_t k = 0; k < nb; k++) all += raw[k];
        memset(raw, 0, sizeof(int64_t) * (size_t)(nb + 1));
        raw[0] = all;
    } else {
        int32_t factor = nb / out;
        for (int32_t j = 0; j < out; j++) {
            int64_t s = 0;
            for (int32_t i = 0; i < factor; i++) s += raw[(size_t)j * factor + i];
            raw[j] = s;
        }
        memset(raw + out, 0, sizeof(int64_t) * (size_t)(nb + 1 - out));
    }
    raw[out] += edge;
}

/* Scan v[0..n). raw (nb + 1 entries) holds counts at width 2^*exp_io, or *exp_io == JK_NO_WIDTH before the first
 * non-zero value, which then picks the width; the counts of v are added, widening as needed. stats = {min, max, sum,
 * sum of squares} and *zeros are updated. Returns JK_NONFINITE when v holds NaN or Inf; raw, stats and *zeros are
 * then partial and the caller discards them. */
int jk_scan(const float *v, int64_t n, int32_t nb, int32_t *exp_io, int64_t *raw, double *stats, int64_t *zeros) {
    uint32_t *lanes = calloc((size_t)JK_LANES * (size_t)(nb + 1), sizeof(uint32_t));
    if (!lanes) return JK_NOMEM;
    int32_t idx[JK_CHUNK];
    int32_t e = *exp_io;
    int64_t unflushed = 0; /* values in the lanes: flushed before a lane could overflow */
    double sum = stats[2], sumsq = stats[3];
    int32_t klo = INT32_MAX, khi = INT32_MIN;
    int status = JK_OK;
    for (int64_t start = 0; start < n; start += JK_CHUNK) {
        const float *p = v + start;
        const int32_t m = (int32_t)(n - start < JK_CHUNK ? n - start : JK_CHUNK);
        int32_t clo = INT32_MAX, chi = INT32_MIN, cz = 0;
        double s = 0.0, s2 = 0.0;
        for (int32_t i = 0; i < m; i++) {
            int32_t bits;
            memcpy(&bits, p + i, sizeof bits);
            int32_t k = key_of(bits);
            clo = k < clo ? k : clo;
            chi = k > chi ? k : chi;
            cz += (bits & 0x7fffffff) == 0;
            double x = p[i];
            s += x;
            s2 += x * x;
        }
        if (clo <= JK_KEY_NEG_INF || chi >= JK_KEY_POS_INF) {
            status = JK_NONFINITE;
            break;
        }
        klo = clo < klo ? clo : klo;
        khi = chi > khi ? chi : khi;
        sum += s;
        sumsq += s2;
        *zeros += cz;
        double absmax = fmax(-(double)float_of_key(clo), (double)float_of_key(chi));
        if (absmax == 0.0) { /* all zeros: bin 0 at any width, known or not */
            raw[0] += m;
            continue;
        }
        if (e == JK_NO_WIDTH) {
            e = fit_exponent(absmax, nb);
        } else if (absmax > ldexp((double)nb, e)) {
            int32_t wider = fit_exponent(absmax, nb);
            flush(lanes, raw, nb);
            unflushed = 0;
            widen(raw, nb, wider - e);
            e = wider;
        }
        if (unflushed + m > (int64_t)UINT32_MAX) {
            flush(lanes, raw, nb);
            unflushed = 0;
        }
        unflushed += m;
        if (-126 <= -e && -e <= 127) { /* 2^-e is a normal float32: the float32 product is exact */
            const float inv = (float)ldexp(1.0, -e);
            for (int32_t i = 0; i < m; i++) idx[i] = (int32_t)(fabsf(p[i]) * inv);
        } else {
            const double inv = ldexp(1.0, -e);
            for (int32_t i = 0; i < m; i++) idx[i] = (int32_t)(fabs((double)p[i]) * inv);
        }
        uint32_t *l0 = lanes, *l1 = lanes + (nb + 1), *l2 = l1 + (nb + 1), *l3 = l2 + (nb + 1);
        int32_t i = 0;
        for (; i + 4 <= m; i += 4) {
            l0[idx[i]]++;
            l1[idx[i + 1]]++;
            l2[idx[i + 2]]++;
            l3[idx[i + 3]]++;
        }
        for (; i < m; i++) l0[idx[i]]++;
    }
    if (status == JK_OK) {
        flush(lanes, raw, nb);
        *exp_io = e;
        if (n > 0) {
            double lo = float_of_key(klo), hi = float_of_key(khi);
            stats[0] = lo < stats[0] ? lo : stats[0];
            stats[1] = hi > stats[1] ? hi : stats[1];
        }
        stats[2] = sum;
        stats[3] = sumsq;
    }
    free(lanes);
    return status;
}
