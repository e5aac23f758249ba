#include "server/async/result.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace hellepoll {
namespace {

Result<int> parse_digit(char c) {
  if (c < '0' || c > '9') return Error{ErrorKind::kInvalidArgument, 0};
  return c - '0';
}

TEST(Result, HoldsAValueOrAnError) {
  Result<int> seven = parse_digit('7');
  ASSERT_TRUE(seven.ok());
  EXPECT_EQ(7, seven.value());
  EXPECT_FALSE(seven.error());

  Result<int> bad = parse_digit('x');
  EXPECT_FALSE(bad.ok());
  EXPECT_FALSE(static_cast<bool>(bad));
  EXPECT_EQ(ErrorKind::kInvalidArgument, bad.error().kind);
}

TEST(Result, VoidCarriesOnlyTheError) {
  Result<void> fine;
  EXPECT_TRUE(fine.ok());
  Result<void> refused = Error{ErrorKind::kStale, 0};
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ("stale handle", refused.error().name());
}

TEST(Result, MovesOutMoveOnlyValues) {
  Result<std::unique_ptr<std::string>> r = std::make_unique<std::string>("moved");
  std::unique_ptr<std::string> p = std::move(r).value();
  EXPECT_EQ("moved", *p);
}

}  // namespace
}  // namespace hellepoll
