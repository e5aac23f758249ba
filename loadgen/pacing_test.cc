#include "loadgen/pacing.h"

#include <gtest/gtest.h>

namespace loadgen {
namespace {

using std::chrono::nanoseconds;
using std::chrono::seconds;

const hellepoll::TimePoint kT0 = hellepoll::TimePoint{} + seconds(1000);

TEST(RateSchedule, RequestKIsDueAtKOverRate) {
  struct {
    double rate;
    uint64_t k;
    int64_t want_ns;
  } cases[] = {
      {1, 0, 0},           {1, 5, 5'000'000'000},           {3, 3, 1'000'000'000},
      {3, 1, 333'333'333}, {50'000, 50'000, 1'000'000'000}, {7.5, 15, 2'000'000'000},
  };
  for (const auto& c : cases) {
    const RateSchedule s(kT0, c.rate);
    EXPECT_EQ(s.time_of(c.k) - kT0, nanoseconds(c.want_ns)) << c.rate << " " << c.k;
  }
}

TEST(RateSchedule, DueCountAgreesWithTimesAtEveryBoundary) {
  for (double rate : {1.0, 3.0, 1000.0, 33'333.3, 1e6}) {
    const RateSchedule s(kT0, rate);
    EXPECT_EQ(s.due_by(kT0 - nanoseconds(1)), 0u);
    for (uint64_t k = 0; k < 5000; ++k) {
      const hellepoll::TimePoint t = s.time_of(k);
      ASSERT_EQ(s.due_by(t), k + 1) << rate << " k=" << k;
      ASSERT_EQ(s.due_by(t - nanoseconds(1)), k) << rate << " k=" << k;
    }
  }
}

TEST(RateSchedule, NoDriftOverAnHour) {
  // 100k/s for an hour: exactly 360M requests are due, to the request.
  const RateSchedule s(kT0, 100'000);
  EXPECT_EQ(s.due_by(kT0 + seconds(3600)), 360'000'001u);
  EXPECT_EQ(s.due_by(kT0 + seconds(3600) - nanoseconds(1)), 360'000'000u);
}

TEST(RateSchedule, AnyWindowHoldsRateTimesItsLength) {
  const RateSchedule s(kT0, 1234.5);
  for (int64_t start_ms : {0, 17, 999, 123456}) {
    const auto a = kT0 + std::chrono::milliseconds(start_ms);
    const uint64_t in_window = s.due_by(a + seconds(10)) - s.due_by(a);
    EXPECT_NEAR(static_cast<double>(in_window), 12345, 1) << start_ms;
  }
}

}  // namespace
}  // namespace loadgen
