// DateCache: the "Date: ...\r\n" header line, formatted at most once a second.
#pragma once

#include <cstring>
#include <ctime>
#include <string_view>

namespace hellepoll::http {

class DateCache {
 public:
  // "Date: Tue, 01 Dec 2026 07:30:00 GMT\r\n": IMF-fixdate always has this
  // length, so callers copy it with a fixed-size memcpy (a few moves, not a
  // call into libc).
  static constexpr size_t kLineLength = 37;

  // The header line (with CRLF) for the current second.
  std::string_view line() {
    time_t now = std::time(nullptr);  // vDSO: no syscall
    if (now != second_) format(now);
    return {buf_, kLineLength};
  }
  // Writes line() at p; returns the end.
  char* put(char* p) {
    line();
    std::memcpy(p, buf_, kLineLength);
    return p + kLineLength;
  }

 private:
  void format(time_t now) {
    struct tm tm;
    gmtime_r(&now, &tm);
    // A year past 9999 would not fit IMF-fixdate: clamp rather than overflow.
    if (tm.tm_year > 9999 - 1900) tm.tm_year = 9999 - 1900;
    std::strftime(buf_, sizeof buf_, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    second_ = now;
  }
  time_t second_ = -1;
  char buf_[64];
};

}  // namespace hellepoll::http
