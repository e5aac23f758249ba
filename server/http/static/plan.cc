#include "server/http/static/plan.h"

#include <cstdio>
#include <cstring>

#include "server/http/date.h"
#include "server/http/static/conditional.h"
#include "server/http/static/range.h"

namespace hellepoll::http::static_files {

FilePlan plan_file_response(const FileRequest& req, const FileVersion& file) {
  FilePlan p;
  if (req.method != Method::kGet && req.method != Method::kHead) {
    p.status = 405;
    p.send_body = false;
    p.validators = false;
    p.allow = true;
    return p;
  }
  // "Date: " + IMF-fixdate + CRLF: the date is the 29 bytes after "Date: ".
  char line[DateCache::kLineLength];
  DateCache::format_line(file.mtime, line);
  std::memcpy(p.last_modified_, line + 6, sizeof p.last_modified_);
  p.last_modified_len_ = sizeof p.last_modified_;
  const bool head = req.method == Method::kHead;
  if (precondition_fails(req.if_match, req.if_unmodified_since, file.etag, file.mtime)) {
    p.status = 412;
    p.send_body = false;
    p.validators = false;
    return p;
  }
  if (not_modified(req.if_none_match, req.if_modified_since, file.etag, file.mtime)) {
    p.status = 304;
    p.send_body = false;
    return p;
  }
  p.length = file.size;
  p.send_body = !head;
  if (head || req.range.empty() ||
      (!req.if_range.empty() && !if_range_holds(req.if_range, file.etag, file.mtime))) {
    return p;
  }
  ByteRange r;
  switch (parse_range(req.range, file.size, &r)) {
    case RangeAnswer::kWhole:
      return p;
    case RangeAnswer::kPartial:
      p.status = 206;
      p.offset = r.first;
      p.length = r.length();
      p.content_range_len_ = static_cast<uint8_t>(
          std::snprintf(p.content_range_, sizeof p.content_range_, "bytes %llu-%llu/%llu",
                        static_cast<unsigned long long>(r.first), static_cast<unsigned long long>(r.last),
                        static_cast<unsigned long long>(file.size)));
      return p;
    case RangeAnswer::kUnsatisfiable:
      p.status = 416;
      p.send_body = false;
      p.length = 0;
      p.validators = false;
      p.content_range_len_ =
          static_cast<uint8_t>(std::snprintf(p.content_range_, sizeof p.content_range_, "bytes */%llu",
                                             static_cast<unsigned long long>(file.size)));
      return p;
  }
  return p;
}

}  // namespace hellepoll::http::static_files
