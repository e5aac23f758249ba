// DateCache: the "Date: ...\r\n" header line, formatted at most once a second.
#pragma once

#include <cstring>
#include <ctime>
#include <limits>
#include <string_view>

namespace hellepoll::http {

class DateCache {
 public:
  // "Date: Tue, 01 Dec 2026 07:30:00 GMT\r\n": IMF-fixdate (RFC 9110
  // §5.6.7) always has this length, so callers copy it with a fixed-size
  // memcpy (a few moves, not a call into libc).
  static constexpr size_t kLineLength = 37;

  // The header line (with CRLF) for the current second.
  std::string_view line() {
    time_t now = std::time(nullptr);  // vDSO: no syscall
    if (now != second_) {
      format_line(now, buf_);
      second_ = now;
    }
    return {buf_, kLineLength};
  }
  // Writes line() at p; returns the end.
  char* put(char* p) {
    line();
    std::memcpy(p, buf_, kLineLength);
    return p + kLineLength;
  }

  // The line for `t`, in kLineLength bytes at out. Built from fixed English
  // names, not strftime(): %a and %b follow the process's locale, and a
  // program that calls setlocale() must not change the header's bytes (or
  // its length). Years outside 0000-9999 are clamped.
  static void format_line(time_t t, char* out) {
    static constexpr char kDays[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr char kMonths[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm {};
    gmtime_r(&t, &tm);
    long year = static_cast<long>(tm.tm_year) + 1900;
    year = year < 0 ? 0 : year > 9999 ? 9999 : year;
    auto two = [&](char* p, int v) {
      p[0] = static_cast<char>('0' + v / 10 % 10);
      p[1] = static_cast<char>('0' + v % 10);
    };
    std::memcpy(out, "Date: ddd, DD mmm YYYY HH:MM:SS GMT\r\n", kLineLength);
    std::memcpy(out + 6, kDays[tm.tm_wday % 7], 3);
    two(out + 11, tm.tm_mday);
    std::memcpy(out + 14, kMonths[tm.tm_mon % 12], 3);
    two(out + 18, static_cast<int>(year / 100));
    two(out + 20, static_cast<int>(year % 100));
    two(out + 23, tm.tm_hour);
    two(out + 26, tm.tm_min);
    two(out + 29, tm.tm_sec);
  }

 private:
  // time() never returns this (its error value is -1, a real second too).
  time_t second_ = std::numeric_limits<time_t>::min();
  char buf_[kLineLength];
};

}  // namespace hellepoll::http
