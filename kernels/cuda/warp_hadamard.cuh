// The unnormalized Walsh-Hadamard transform H x of the D = 32 VPL values a warp holds, lane l
// holding elements l VPL .. l VPL + VPL - 1: butterflies inside the lane for strides below VPL,
// then across lanes with shuffles (no shared memory, no barrier). Used for the query rotation
// (Pi q), the merge's Pi^T and the encoder's rotation; the callers apply the signs and 1/sqrt(D).
#pragma once

namespace skv::kernels {

template <int VPL>
__device__ __forceinline__ void warp_hadamard(float (&x)[VPL], int lane) {
#pragma unroll
  for (int st = 1; st < VPL; st *= 2)
#pragma unroll
    for (int e = 0; e < VPL; ++e)
      if (!(e & st)) {
        const float a = x[e], b = x[e + st];
        x[e] = a + b;
        x[e + st] = a - b;
      }
#pragma unroll
  for (int ls = 1; ls < 32; ls *= 2)
#pragma unroll
    for (int e = 0; e < VPL; ++e) {
      const float other = __shfl_xor_sync(0xffffffffu, x[e], ls);
      x[e] = (lane & ls) ? other - x[e] : x[e] + other;
    }
}

}  // namespace skv::kernels
