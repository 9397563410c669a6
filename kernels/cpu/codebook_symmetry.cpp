// codebooks_symmetric (kernels/page_table.h): the host-side test of the symmetry the v7 kernel's
// fast build relies on, with the same functions the kernel uses to decide it on the device.
#include <cstdint>

#include "kernels/ada_bitplane.h"
#include "kernels/ada_value_table.h"
#include "kernels/cpu/fp16.h"
#include "kernels/page_table.h"

namespace skv::kernels {

bool codebooks_symmetric(const TierLayout& L, const float* key_levels, const float* value_levels) {
  if (!key_levels || !value_levels || L.key_kind != KeyKind::kCoord || L.key_bits != 3 ||
      L.value_kind != ValueKind::kCoord || L.value_bits != 4)
    return false;
  if (bitplane::coefficients(key_levels).general) return false;
  uint16_t bits[16];
  for (int c = 0; c < 16; ++c) bits[c] = cpu::float_to_half(value_levels[c]);
  return value_table::make_table(bits).symmetric != 0;
}

}  // namespace skv::kernels
