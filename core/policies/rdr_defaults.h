#pragma once
// RDR's defaults (policies rdr and rdr-c): the one place skv eval / sweep / record / generate and
// the Studio take them from. Plain constants, no libtorch, so the GUI's headers can include it.
//
// Chosen by measurement (docs/RDR_RESULTS.md, round 3: 128 teacher-forced steps on SmolLM2-135M,
// prose and code at 25% and 12.5% of the fp16 cache): the model's shipped budget profile's
// per-layer shares, utility power 0.5 and the SnapKV utility gave the lowest next-token KL of every
// policy in 3 of the 4 cells; the previous defaults (sensitivity weights only, utility
// snapkv*0.8+recency*0.2, power 1, no profile) won none. docs/POLICIES.md describes each knob.
namespace skv {

// Utility estimator (core/policies/utility_estimators.h): pooled observation-window attention.
inline constexpr const char* kRdrDefaultUtility = "snapkv";
// gamma in D_j(t) = u_j^gamma (...): < 1 flattens utilities, so fewer tokens are dropped.
inline constexpr double kRdrDefaultUtilityPower = 0.5;
// Budget profile: "auto" = the assets/profiles/*.json made for the loaded model (matched by
// name, architecture and shape: rdr_policy.h find_model_profile), none when there is none;
// "none" = one multiplier across all layers; else a profile name or path.
inline constexpr const char* kRdrDefaultProfile = "auto";
inline constexpr const char* kRdrNoProfile = "none";
// Per-layer distortion weights (layer_sensitivity of the model's profile; with a profile's
// per-layer budgets they move no bytes, without one they weight the single multiplier).
inline constexpr const char* kRdrDefaultSensitivity = "auto";

// The RDKV peer (rdkv): un-pooled observation attention, power 1, no profile, unweighted.
inline constexpr const char* kRdkvDefaultUtility = "obs";
inline constexpr double kRdkvDefaultUtilityPower = 1.0;

}  // namespace skv
