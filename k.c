#include "pw.h"
void kern(const float *in, float *out, long n, float y) {
    #pragma omp simd
    for (long i = 0; i < n; i++) {
        float v = in[i];
        out[i] = (0.0f < v) ? saline_pow_core(v, y) : 0.0f;
    }
}
void kern_libm(const float *in, float *out, long n, float y) {
    for (long i = 0; i < n; i++) {
        float v = in[i];
        out[i] = (0.0f < v) ? powf(v, y) : 0.0f;
    }
}
