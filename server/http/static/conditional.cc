#include "server/http/static/conditional.h"

#include <cstring>

#include "server/http/static/text.h"

namespace hellepoll::http::static_files {
namespace {

constexpr char kMonths[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

bool digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

int month(std::string_view s, size_t pos) {
  if (pos + 3 > s.size()) return -1;
  for (int m = 0; m < 12; ++m) {
    if (s.compare(pos, 3, kMonths[m]) == 0) return m;
  }
  return -1;
}

// "HH:MM:SS" at pos.
bool clock(std::string_view s, size_t pos, struct tm* tm) {
  return pos + 8 <= s.size() && s[pos + 2] == ':' && s[pos + 5] == ':' && digits(s, pos, 2, &tm->tm_hour) &&
         digits(s, pos + 3, 2, &tm->tm_min) && digits(s, pos + 6, 2, &tm->tm_sec) && tm->tm_hour < 24 &&
         tm->tm_min < 60 && tm->tm_sec < 61;
}

std::optional<time_t> finish(struct tm* tm) {
  if (tm->tm_mday < 1 || tm->tm_mday > 31) return std::nullopt;
  return timegm(tm);
}

// A weak comparison: "W/" prefixes are ignored.
std::string_view opaque(std::string_view tag) {
  if (tag.size() >= 2 && tag[0] == 'W' && tag[1] == '/') tag.remove_prefix(2);
  return tag;
}

}  // namespace

size_t format_etag(time_t mtime, uint64_t size, char* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  auto put_hex = [&](char* p, uint64_t v) {
    char tmp[16];
    size_t n = 0;
    do {
      tmp[n++] = kHex[v & 15];
      v >>= 4;
    } while (v != 0);
    for (size_t i = 0; i < n; ++i) p[i] = tmp[n - 1 - i];
    return n;
  };
  char* p = out;
  *p++ = '"';
  p += put_hex(p, static_cast<uint64_t>(mtime));
  *p++ = '-';
  p += put_hex(p, size);
  *p++ = '"';
  return static_cast<size_t>(p - out);
}

std::optional<time_t> parse_http_date(std::string_view s) {
  s = trim_ows(s);
  struct tm tm {};
  const size_t comma = s.find(',');
  if (comma == 3) {
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    if (s.size() != 29 || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
        s.substr(25) != " GMT")
      return std::nullopt;
    if (!digits(s, 5, 2, &tm.tm_mday) || (tm.tm_mon = month(s, 8)) < 0 || !digits(s, 12, 4, &tm.tm_year) ||
        !clock(s, 17, &tm))
      return std::nullopt;
    tm.tm_year -= 1900;
    return finish(&tm);
  }
  if (comma != std::string_view::npos) {
    // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; a two-digit year is the
    // nearest one not more than 50 years ahead (RFC 9110 §5.6.7), taken
    // here as 1970-2069.
    std::string_view r = s.substr(comma + 1);
    if (r.size() != 23 || r[0] != ' ' || r[3] != '-' || r[7] != '-' || r[10] != ' ' || r.substr(19) != " GMT")
      return std::nullopt;
    int yy = 0;
    if (!digits(r, 1, 2, &tm.tm_mday) || (tm.tm_mon = month(r, 4)) < 0 || !digits(r, 8, 2, &yy) ||
        !clock(r, 11, &tm))
      return std::nullopt;
    tm.tm_year = yy < 70 ? yy + 100 : yy;
    return finish(&tm);
  }
  // asctime: "Sun Nov  6 08:49:37 1994"
  if (s.size() != 24 || s[3] != ' ' || s[7] != ' ' || s[10] != ' ' || s[19] != ' ') return std::nullopt;
  if ((tm.tm_mon = month(s, 4)) < 0 || !clock(s, 11, &tm) || !digits(s, 20, 4, &tm.tm_year))
    return std::nullopt;
  const std::string_view day = s.substr(8, 2);
  if (day[0] == ' ') {
    if (!digits(day, 1, 1, &tm.tm_mday)) return std::nullopt;
  } else if (!digits(day, 0, 2, &tm.tm_mday)) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  return finish(&tm);
}

bool none_match_hits(std::string_view header, std::string_view etag) {
  header = trim_ows(header);
  if (header == "*") return true;
  while (!header.empty()) {
    size_t comma = header.find(',');
    const std::string_view tag = trim_ows(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    if (!tag.empty() && opaque(tag) == opaque(etag)) return true;
  }
  return false;
}

bool precondition_fails(std::string_view if_match, std::string_view if_unmodified_since,
                        std::string_view etag, time_t mtime) {
  if (!if_match.empty()) {
    std::string_view header = trim_ows(if_match);
    if (header == "*") return false;
    while (!header.empty()) {
      const size_t comma = header.find(',');
      const std::string_view tag = trim_ows(header.substr(0, comma));
      header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
      if (tag == etag) return false;  // strong: a weak tag never matches
    }
    return true;
  }
  if (if_unmodified_since.empty()) return false;
  const auto since = parse_http_date(if_unmodified_since);
  return since && mtime > *since;
}

bool not_modified(std::string_view if_none_match, std::string_view if_modified_since, std::string_view etag,
                  time_t mtime) {
  if (!if_none_match.empty()) return none_match_hits(if_none_match, etag);
  if (if_modified_since.empty()) return false;
  const auto since = parse_http_date(if_modified_since);
  return since && mtime <= *since;
}

bool if_range_holds(std::string_view if_range, std::string_view etag, time_t mtime) {
  if_range = trim_ows(if_range);
  if (!if_range.empty() && (if_range.front() == '"' || if_range.starts_with("W/"))) {
    return if_range == etag;  // strong comparison: a weak tag never matches
  }
  const auto date = parse_http_date(if_range);
  return date && *date == mtime;
}

}  // namespace hellepoll::http::static_files
