#include "server/duration.h"

#include <cstdint>

namespace hellepoll {
namespace {

constexpr int kMaxFractionDigits = 18;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Nanoseconds per unit, or 0 for a string that is not a unit.
uint64_t unit_ns(std::string_view unit) {
  if (unit.empty() || unit == "s") return 1'000'000'000;
  if (unit == "ms") return 1'000'000;
  if (unit == "us") return 1'000;
  if (unit == "ns") return 1;
  if (unit == "m") return 60'000'000'000;
  if (unit == "h") return 3'600'000'000'000;
  return 0;
}

}  // namespace

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view s) {
  const uint64_t max = static_cast<uint64_t>(kMaxDuration.count());
  // Whole part, capped as it goes: any unit is at least 1 ns, so more than
  // `max` whole units is too long whatever follows.
  size_t i = 0;
  uint64_t whole = 0;
  for (; i < s.size() && is_digit(s[i]); ++i) {
    whole = whole * 10 + static_cast<uint64_t>(s[i] - '0');
    if (whole > max) return std::nullopt;
  }
  size_t digits = i;
  // Fraction, as an integer over 10^fraction_digits.
  uint64_t fraction = 0, denominator = 1;
  if (i < s.size() && s[i] == '.') {
    const size_t start = ++i;
    for (; i < s.size() && is_digit(s[i]); ++i) {
      if (i - start == kMaxFractionDigits) return std::nullopt;
      fraction = fraction * 10 + static_cast<uint64_t>(s[i] - '0');
      denominator *= 10;
    }
    digits += i - start;
  }
  if (digits == 0) return std::nullopt;
  const uint64_t per_unit = unit_ns(s.substr(i));
  if (per_unit == 0) return std::nullopt;

  if (whole > max / per_unit) return std::nullopt;
  // fraction < 10^18 and per_unit < 2^42: the product needs 128 bits.
  const auto scaled = static_cast<unsigned __int128>(fraction) * per_unit;
  const uint64_t fraction_ns = static_cast<uint64_t>((scaled + denominator / 2) / denominator);
  const uint64_t ns = whole * per_unit + fraction_ns;
  if (ns > max) return std::nullopt;
  return std::chrono::nanoseconds(static_cast<int64_t>(ns));
}

}  // namespace hellepoll
