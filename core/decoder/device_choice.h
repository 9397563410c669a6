#pragma once
// "cpu", "cuda" or "auto" (the GPU when one is present, else the CPU).
#include <string>

#include <c10/core/Device.h>

namespace skv {

c10::Device choose_device(const std::string& name);
bool cuda_available();
std::string device_description(const c10::Device& device);  // "cpu (2 threads)", "cuda:0 NVIDIA H100 ..."

}  // namespace skv
