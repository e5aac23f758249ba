#include "server/duration.h"

#include <gtest/gtest.h>

#include <optional>
#include <string_view>

namespace hellepoll {
namespace {

using namespace std::chrono_literals;

struct Case {
  std::string_view in;
  std::optional<std::chrono::nanoseconds> out;  // nullopt: rejected
};

TEST(ParseDuration, Units) {
  const Case cases[] = {
      {"100ns", 100ns}, {"250us", 250us}, {"500ms", 500ms}, {"10s", 10s}, {"2m", 2min},
      {"1h", 1h},       {"10", 10s},      {"0", 0s},        {"0ms", 0ms}, {"007s", 7s},
  };
  for (const Case& c : cases) EXPECT_EQ(parse_duration(c.in), c.out) << c.in;
}

TEST(ParseDuration, Fractions) {
  const Case cases[] = {
      {"1.5s", 1500ms},
      {".5s", 500ms},
      {"1.s", 1s},
      {".5h", 30min},
      {"1.5", 1500ms},
      {"0.25ms", 250us},
      {"0.5ns", 1ns},
      {"0.4ns", 0ns},
      {"2.5us", 2500ns},
      {"0.1m", 6s},
      // Ten digits after the point: below a nanosecond, rounded half up.
      {"1.0000000005s", 1'000'000'001ns},
      {"1.0000000004s", 1s},
      // Eighteen digits are allowed, nineteen are not.
      {"0.000000000000000001h", 0ns},
      {"0.0000000000000000001s", std::nullopt},
  };
  for (const Case& c : cases) EXPECT_EQ(parse_duration(c.in), c.out) << c.in;
}

TEST(ParseDuration, Overflow) {
  const Case cases[] = {
      {"1000000000000000000ns", kMaxDuration},
      {"1000000000s", kMaxDuration},
      {"1000000000000000001ns", std::nullopt},
      {"1000000000.000000001s", std::nullopt},
      {"1000000001s", std::nullopt},
      {"277777h", 277777h},
      {"277778h", std::nullopt},
      {"18446744073709551616ns", std::nullopt},  // 2^64: wraps a uint64_t
      {"99999999999999999999999999h", std::nullopt},
  };
  for (const Case& c : cases) EXPECT_EQ(parse_duration(c.in), c.out) << c.in;
}

TEST(ParseDuration, Rejects) {
  const std::string_view cases[] = {
      "",    "s",    ".",  ".s",    "10 s",  " 10s",  "10s ",  "-1s", "+1s",  "1e3s",
      "10S", "10Ms", "5d", "10sec", "0x10s", "1..5s", "1.5.s", "ms5", "1,5s", "1_000s",
  };
  for (std::string_view in : cases) EXPECT_EQ(parse_duration(in), std::nullopt) << '"' << in << '"';
}

}  // namespace
}  // namespace hellepoll
