// parse_duration: the one duration grammar of every command line (the
// variants' timeouts, loadgen's -d, --timeout, --warmup).
//
// Grammar (the whole string must match; nothing else is accepted):
//   duration = number [unit]
//   number   = digits ["." [digits]] | "." digits   (at most 18 after the ".")
//   unit     = "ns" | "us" | "ms" | "s" | "m" | "h"  (lower case; none: seconds)
// So "500ms", "1.5s", "2m", ".5h" and "10" (ten seconds) parse; "10 s",
// "-1s", "1e3s", "10S", "5d" and "" do not.
// A fraction is rounded to the nearest nanosecond (halves away from zero).
// A result above kMaxDuration is rejected, so that now() plus any parsed
// duration stays far inside the clock's range.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace hellepoll {

// 10^18 ns, about 31.7 years.
inline constexpr std::chrono::nanoseconds kMaxDuration{1'000'000'000'000'000'000};

// The grammar in a --help text's words (two lines, each ending in '\n').
inline constexpr std::string_view kDurationHelp =
    "Durations are a number and a unit: ns, us, ms, s, m or h (500ms, 1.5s,\n"
    "2m); a number without a unit is seconds.\n";

// The duration `s` spells, or nullopt when it does not follow the grammar
// or exceeds kMaxDuration.
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view s);

}  // namespace hellepoll
