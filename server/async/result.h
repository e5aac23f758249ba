// Result<T>: a value, or the Error that says why there is none.
//
// Every API that can refuse returns one (C++20 has no std::expected):
//
//   Result<void> r = res.add_header(name, value);
//   if (!r) log(r.error().name());
//
// A Result<void> carries only the error; ok() when there is none. Reading
// value() of a failed Result is a programming error (asserted in debug).
#pragma once

#include <cassert>
#include <optional>
#include <utility>

#include "server/error.h"

namespace hellepoll {

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit, like std::expected
  Result(Error e) : error_(e) { assert(e); }     // NOLINT

  bool ok() const { return !error_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return error_; }

  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::optional<T> value_;
  Error error_;
};

template <>
class Result<void> {
 public:
  Result() = default;
  Result(Error e) : error_(e) {}  // NOLINT: implicit, like std::expected

  bool ok() const { return !error_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return error_; }

 private:
  Error error_;
};

}  // namespace hellepoll
