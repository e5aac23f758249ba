#include "loadgen/units.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace loadgen {
namespace {

// Splits "12.5ms" into 12.5 and "ms"; the number part must be non-empty.
bool split_number(std::string_view s, double* value, std::string_view* suffix) {
  size_t i = 0;
  while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
  if (i == 0) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + i, *value);
  if (ec != std::errc() || p != s.data() + i) return false;
  *suffix = s.substr(i);
  return std::isfinite(*value);
}

}  // namespace

std::optional<double> parse_si(std::string_view s) {
  double v;
  std::string_view suffix;
  if (!split_number(s, &v, &suffix)) return std::nullopt;
  if (suffix.empty()) return v;
  if (suffix.size() != 1) return std::nullopt;
  switch (suffix[0]) {
    case 'k':
    case 'K':
      return v * 1e3;
    case 'm':
    case 'M':
      return v * 1e6;  // "m" is not milli for counts
    case 'g':
    case 'G':
      return v * 1e9;
    default:
      return std::nullopt;
  }
}

std::optional<uint64_t> parse_count(std::string_view s) {
  auto v = parse_si(s);
  if (!v || *v > 1.8e19 || *v != std::floor(*v)) return std::nullopt;
  return static_cast<uint64_t>(*v);
}

double to_seconds(hellepoll::Duration d) { return std::chrono::duration<double>(d).count(); }

namespace {
std::string format2(double v, const char* unit) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.2f%s", v, unit);
  return buf;
}
}  // namespace

std::string format_us(double us) {
  if (us < 1000) return format2(us, "us");
  if (us < 1e6) return format2(us / 1e3, "ms");
  if (us < 60e6) return format2(us / 1e6, "s");
  if (us < 3600e6) return format2(us / 60e6, "m");
  return format2(us / 3600e6, "h");
}

std::string format_bytes(double b) {
  static const char* const kUnits[] = {"B", "KB", "MB", "GB", "TB"};
  int i = 0;
  while (b >= 1024 && i < 4) {
    b /= 1024;
    ++i;
  }
  return format2(b, kUnits[i]);
}

std::string format_si(double v) {
  static const char* const kUnits[] = {"", "k", "M", "G", "T"};
  int i = 0;
  while (v >= 1000 && i < 4) {
    v /= 1000;
    ++i;
  }
  return format2(v, kUnits[i]);
}

}  // namespace loadgen
