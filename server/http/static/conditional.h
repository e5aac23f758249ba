// Validators and preconditions for static files (RFC 9110 §8.8, §13).
//
// - ETag: "<mtime seconds hex>-<size hex>", nginx's form, so a file served
//   by both keeps its tag.
// - If-Match or else If-Unmodified-Since first (412 when they fail), then
//   If-None-Match (weak comparison, "*" or a list) decides when present;
//   else If-Modified-Since (an HTTP-date in any of the three forms): 304
//   when the file is not newer, to the second.
// - If-Range: the Range header counts only when it names the current ETag
//   (strong comparison) or the exact Last-Modified date.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string_view>

namespace hellepoll::http::static_files {

// Writes the quoted ETag at `out` (at most kEtagMax bytes); returns its length.
constexpr size_t kEtagMax = 2 + 16 + 1 + 16;
size_t format_etag(time_t mtime, uint64_t size, char* out);

// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), RFC 850 ("Sunday,
// 06-Nov-94 08:49:37 GMT") or asctime ("Sun Nov  6 08:49:37 1994").
std::optional<time_t> parse_http_date(std::string_view s);

// Whether `header` (If-None-Match) matches `etag`, weakly.
bool none_match_hits(std::string_view header, std::string_view etag);

// Whether the request's validators say the client's copy is current (304).
// Either header may be empty (absent).
bool not_modified(std::string_view if_none_match, std::string_view if_modified_since, std::string_view etag,
                  time_t mtime);

// Whether the request's preconditions fail (412): If-Match (strong
// comparison, "*" or a list) decides when present; else If-Unmodified-Since
// fails when the file is newer than its date (an unparsable date is
// ignored, RFC 9110 §13.1.4).
bool precondition_fails(std::string_view if_match, std::string_view if_unmodified_since,
                        std::string_view etag, time_t mtime);

// Whether an If-Range header (non-empty) lets the Range header count.
bool if_range_holds(std::string_view if_range, std::string_view etag, time_t mtime);

}  // namespace hellepoll::http::static_files
