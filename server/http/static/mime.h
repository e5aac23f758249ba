// MimeTypes: Content-Type by file extension, from the system's table
// (/etc/mime.types, Debian's media-types package), read once at start.
// Lookup is case-insensitive on the extension and allocates nothing;
// an unknown or missing extension is application/octet-stream.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>

namespace hellepoll::http::static_files {

class MimeTypes {
 public:
  static constexpr std::string_view kDefault = "application/octet-stream";

  // Reads `path`; a table that cannot be read leaves every type the
  // default, and error() says why (the server logs it at start).
  explicit MimeTypes(const std::string& path = "/etc/mime.types");
  // From the text of such a table (tests).
  static MimeTypes from_text(std::string_view text);

  std::string_view type_of(std::string_view filename) const;
  size_t size() const { return by_ext_.size(); }
  const std::string& error() const { return error_; }

 private:
  struct Empty {};
  explicit MimeTypes(Empty) {}
  void parse(std::string_view text);
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::string, Hash, std::equal_to<>> by_ext_;
  std::string error_;
};

}  // namespace hellepoll::http::static_files
