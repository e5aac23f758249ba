// DateCache: the "Date: ...\r\n" header line, formatted at most once a second.
#pragma once

#include <ctime>
#include <string_view>

namespace hellepoll::http {

class DateCache {
 public:
  // The header line (with CRLF) for the current second.
  std::string_view line() {
    time_t now = std::time(nullptr);  // vDSO: no syscall
    if (now != second_) format(now);
    return {buf_, len_};
  }

 private:
  void format(time_t now) {
    struct tm tm;
    gmtime_r(&now, &tm);
    len_ = std::strftime(buf_, sizeof buf_, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    second_ = now;
  }
  time_t second_ = -1;
  size_t len_ = 0;
  char buf_[64];
};

}  // namespace hellepoll::http
