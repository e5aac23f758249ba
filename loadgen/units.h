// Units: numbers with SI suffixes, both ways, and durations out (durations
// in: server/duration.h, the grammar the variants share).
//
// Parsing is strict: the whole string must be consumed, so "10x" or "5 k" is
// an error rather than a silent 10 or 5. Formatting follows wrk: two
// decimals and the largest unit that keeps the number >= 1.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "server/scheduler.h"

namespace loadgen {

// "25", "100k", "1.5M", "2G" (powers of 1000). Rejects negatives and overflow.
std::optional<uint64_t> parse_count(std::string_view s);
// Like parse_count but keeps fractions: "0.5", "2.5k" (for --rate).
std::optional<double> parse_si(std::string_view s);

// 1234.5 -> "1.23ms" (input in microseconds).
std::string format_us(double us);
// 12345678 -> "11.77MB" (powers of 1024, as wrk).
std::string format_bytes(double bytes);
// 1234567 -> "1.23M" (powers of 1000).
std::string format_si(double v);

double to_seconds(hellepoll::Duration d);

}  // namespace loadgen
