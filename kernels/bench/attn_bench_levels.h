// The codebook levels the attention benchmark runs with (kernels/bench/attn_bench_suite.cu): the
// target tier k3v4 (assets/tiers/k3v4.json) at d = 128, as core/codecs builds it (nested
// coord-lloyd: 3-bit key and 4-bit value levels of the sphere-coordinate law, symmetric about 0).
// They are constants here because kernels/ does not depend on core/; tests/core/
// attn_bench_levels_test.cpp checks them against the codec, so they cannot drift from what the tool
// runs. (The kernels' cost does not depend on the level values, only on their symmetry; the d = 64
// rows use them too.)
#pragma once

namespace skv::kernels::bench_levels {

// Levels 4..7 of the 3-bit key codebook; level 3 - c is -level 4 + c.
inline constexpr float kKeyHalf[4] = {0.02003825f, 0.06151833f, 0.1115148f, 0.1834157f};
// Levels 8..15 of the 4-bit value codebook; level 7 - c is -level 8 + c.
inline constexpr float kValueHalf[8] = {0.0100139156f, 0.0302109811f, 0.0513455942f, 0.0739278346f,
                                        0.0991052836f, 0.128336057f,  0.166594431f,  0.226165473f};

}  // namespace skv::kernels::bench_levels
