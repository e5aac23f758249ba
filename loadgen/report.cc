#include "loadgen/report.h"

#include <cmath>

#include "loadgen/request.h"
#include "loadgen/units.h"

namespace loadgen {
namespace {

constexpr double kPercentiles[] = {50, 75, 90, 99, 99.9, 99.99};

double us(uint64_t ns) { return static_cast<double>(ns) / 1e3; }

const char* failure_help(Failure f) {
  switch (f) {
    case Failure::kConnect:
      return "connections refused, unreachable or not accepted in time";
    case Failure::kRead:
      return "read() failed";
    case Failure::kWrite:
      return "write() failed";
    case Failure::kTimeout:
      return "no complete response within --timeout";
    case Failure::kReset:
      return "the server reset the connection";
    case Failure::kShortRead:
      return "the server closed before the response was complete";
    case Failure::kParse:
      return "the response was not valid HTTP/1.x";
    case Failure::kNon2xx:
      return "complete responses with a status other than 2xx";
    case Failure::kUnexpectedStatus:
      return "complete responses with a status other than --expect-status";
    case Failure::kUnexpectedBody:
      return "complete responses with a body other than --expect-body";
  }
  return "";
}

// "3 failed requests, 375 unanswered at end": what makes the run invalid.
std::string invalid_summary(const Report& r) {
  const Stats& s = r.stats;
  const uint64_t errors = s.error_total();
  std::string t = std::to_string(errors) + (errors == 1 ? " failed request" : " failed requests");
  if (s.unanswered_at_end > 0) t += ", " + std::to_string(s.unanswered_at_end) + " unanswered at end";
  if (s.not_sent > 0) t += ", " + std::to_string(s.not_sent) + " not sent";
  if (r.unfinished() > 0 && r.unfinished() <= r.config.allow_unanswered) {
    t += " (within --allow-unanswered " + std::to_string(r.config.allow_unanswered) + ")";
  }
  return t;
}

std::string setting_line(const Config& c, uint32_t connections) {
  std::string s = "  " + std::to_string(c.threads) + (c.threads == 1 ? " thread" : " threads") + " and " +
                  std::to_string(connections) + " connections, ";
  s += c.keepalive ? "keep-alive, " : "a connection per request, ";
  s += c.http10 ? "HTTP/1.0" : "HTTP/1.1";
  s += ", backend " + std::string(backend_name(c.backend));
  if (c.pipeline > 1) s += ", pipeline " + std::to_string(c.pipeline);
  if (c.rate > 0) s += ", rate " + format_si(c.rate) + "/s";
  if (c.warmup > hellepoll::Duration::zero()) s += ", warm-up " + format_us(to_seconds(c.warmup) * 1e6);
  return s;
}

void print_latency_rows(std::FILE* out, const char* label, const Histogram& h) {
  std::fprintf(out, "    %-10s%10s %10s %10s %9.2f%%\n", label, format_us(h.mean() / 1e3).c_str(),
               format_us(h.stdev() / 1e3).c_str(), format_us(us(h.max())).c_str(), h.within_stdev_percent());
}

void print_distribution(std::FILE* out, const char* title, const Histogram& h) {
  std::fprintf(out, "  %s\n", title);
  for (double p : kPercentiles) {
    char label[16];
    std::snprintf(label, sizeof label, "%g%%", p);
    std::fprintf(out, "  %8s %10s\n", label, format_us(us(h.value_at_percentile(p))).c_str());
  }
  std::fprintf(out, "  %8s %10s\n", "max", format_us(us(h.max())).c_str());
}

// ---------------------------------------------------------------- JSON

class Json {
 public:
  std::string& out() { return s_; }
  Json& raw(const std::string& v) {
    s_ += v;
    return *this;
  }
  Json& str(std::string_view v) {
    s_ += '"';
    for (char c : v) {
      switch (c) {
        case '"':
          s_ += "\\\"";
          break;
        case '\\':
          s_ += "\\\\";
          break;
        case '\n':
          s_ += "\\n";
          break;
        case '\r':
          s_ += "\\r";
          break;
        case '\t':
          s_ += "\\t";
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            s_ += buf;
          } else {
            s_ += c;
          }
      }
    }
    s_ += '"';
    return *this;
  }
  Json& key(std::string_view k) {
    comma();
    str(k);
    s_ += ':';
    first_ = true;  // the value follows without a comma
    return *this;
  }
  Json& num(double v) {
    comma();
    char buf[48];
    if (!std::isfinite(v)) v = 0;
    std::snprintf(buf, sizeof buf, "%.4f", v);  // plain decimal, 0.1 ns resolution for us
    std::string_view t = buf;
    while (t.back() == '0') t.remove_suffix(1);
    if (t.back() == '.') t.remove_suffix(1);
    s_ += t;
    first_ = false;
    return *this;
  }
  Json& num(uint64_t v) {
    comma();
    s_ += std::to_string(v);
    first_ = false;
    return *this;
  }
  Json& boolean(bool v) {
    comma();
    s_ += v ? "true" : "false";
    first_ = false;
    return *this;
  }
  Json& string(std::string_view v) {
    comma();
    str(v);
    first_ = false;
    return *this;
  }
  Json& open(char c) {
    comma();
    s_ += c;
    first_ = true;
    return *this;
  }
  Json& close(char c) {
    s_ += c;
    first_ = false;
    return *this;
  }

 private:
  void comma() {
    if (!first_) s_ += ',';
    first_ = false;
  }
  std::string s_;
  bool first_ = true;
};

void latency_json(Json& j, const Histogram& h, bool corrected) {
  j.open('{');
  j.key("mean").num(h.mean() / 1e3);
  j.key("stdev").num(h.stdev() / 1e3);
  j.key("min").num(us(h.min()));
  j.key("p50").num(us(h.value_at_percentile(50)));
  j.key("p90").num(us(h.value_at_percentile(90)));
  j.key("p99").num(us(h.value_at_percentile(99)));
  j.key("p99.9").num(us(h.value_at_percentile(99.9)));
  j.key("p99.99").num(us(h.value_at_percentile(99.99)));
  j.key("max").num(us(h.max()));
  j.key("corrected").boolean(corrected);
  j.key("spectrum").open('[');
  for (const Histogram::Bucket& b : h.buckets()) {
    j.open('[').num(us(b.value)).num(b.percentile).num(b.count).close(']');
  }
  j.close(']');
  j.close('}');
}

}  // namespace

void print_human(std::FILE* out, const Report& r) {
  const Config& c = r.config;
  const Stats& s = r.stats;
  auto row = [out](const char* name, uint64_t n, const char* help) {
    std::fprintf(out, "  %-17s %10llu   %s\n", name, static_cast<unsigned long long>(n), help);
  };
  if (!r.valid()) {
    std::fprintf(out, "ERRORS: %s; this run is INVALID, do not quote its figures\n",
                 invalid_summary(r).c_str());
    if (!r.fatal.empty()) std::fprintf(out, "  stopped early: %s\n", r.fatal.c_str());
    for (size_t i = 0; i < kFailureKinds; ++i) {
      if (s.errors[i] == 0) continue;
      const auto f = static_cast<Failure>(i);
      row(std::string(failure_name(f)).c_str(), s.errors[i], failure_help(f));
    }
    if (s.unanswered_at_end > 0) {
      row("unanswered at end", s.unanswered_at_end, "sent, no answer within --timeout after the end");
    }
    if (s.not_sent > 0) row("not sent", s.not_sent, "due or queued, never fully written");
    if (s.miscounted_connections > 0) {
      row("miscounted", s.miscounted_connections, "connections whose counts do not add up (a loadgen bug)");
    }
    std::fprintf(out, "\n");
  } else if (r.unfinished() > 0) {
    std::fprintf(out, "note: %s\n", invalid_summary(r).c_str());
  }
  for (const std::string& n : r.notes) std::fprintf(out, "note: %s\n", n.c_str());
  if (r.interrupted) std::fprintf(out, "note: interrupted; the figures cover the run so far\n");

  if (c.count_mode()) {
    std::fprintf(out, "Running %llu requests @ %s\n", static_cast<unsigned long long>(c.requests),
                 c.url_text.c_str());
  } else {
    std::fprintf(out, "Running %s test @ %s\n", format_us(to_seconds(c.duration) * 1e6).c_str(),
                 c.url_text.c_str());
  }
  std::fprintf(out, "%s\n", setting_line(c, c.connections).c_str());
  if (r.sources_used > 1) {
    std::fprintf(out, "  source addresses 127.0.0.1 to 127.0.0.%u\n", r.sources_used);
  }
  const bool rate = c.rate > 0;
  std::fprintf(out, "  %-12s%10s %10s %10s %10s\n", "Thread Stats", "Avg", "Stdev", "Max", "+/- Stdev");
  print_latency_rows(out, "Latency", s.latency);
  if (rate) print_latency_rows(out, "Uncorr.", s.uncorrected);
  // Requests per second from the timeline, whole seconds only.
  size_t secs = static_cast<size_t>(s.duration_s);
  if (secs > s.timeline.size()) secs = s.timeline.size();
  if (secs >= 1) {
    double sum = 0, sq = 0, mx = 0;
    for (size_t i = 0; i < secs; ++i) {
      const double v = static_cast<double>(s.timeline[i]);
      sum += v;
      sq += v * v;
      mx = std::max(mx, v);
    }
    const double mean = sum / secs;
    const double sd = secs > 1 ? std::sqrt(std::max(0.0, (sq - sum * mean) / (secs - 1))) : 0;
    std::fprintf(out, "    %-10s%10s %10s %10s\n", "Req/Sec", format_si(mean).c_str(), format_si(sd).c_str(),
                 format_si(mx).c_str());
  }
  if (c.latency) {
    print_distribution(out,
                       rate ? "Latency Distribution (corrected: from each request's scheduled time)"
                            : "Latency Distribution",
                       s.latency);
    if (rate) print_distribution(out, "Uncorrected Latency (from the actual send)", s.uncorrected);
  }
  std::fprintf(out, "  %llu requests in %.2fs, %s read\n", static_cast<unsigned long long>(s.responses),
               s.duration_s, format_bytes(static_cast<double>(s.bytes_read)).c_str());
  std::fprintf(out, "  %llu sent: %llu answered, %llu lost, %llu unanswered at end; %llu not sent",
               static_cast<unsigned long long>(s.requests), static_cast<unsigned long long>(s.responses),
               static_cast<unsigned long long>(s.lost), static_cast<unsigned long long>(s.unanswered_at_end),
               static_cast<unsigned long long>(s.not_sent));
  // A server that closes mid-batch gets the rest of the batch again on a new
  // connection: a valid run, but not the pipelining it was asked for.
  if (s.resent > 0)
    std::fprintf(out, "; %llu resent after a close", static_cast<unsigned long long>(s.resent));
  std::fprintf(out, "\n");
  const double dur = s.duration_s > 0 ? s.duration_s : 1;
  std::fprintf(out, "Requests/sec: %10.2f\n", static_cast<double>(s.responses) / dur);
  std::fprintf(out, "Transfer/sec: %10s\n", format_bytes(static_cast<double>(s.bytes_read) / dur).c_str());
  const double cpu = s.user_s + s.sys_s;
  if (s.responses > 0) {
    std::fprintf(out, "Client CPU:   %10s/request (user %.2fs, sys %.2fs)\n",
                 format_us(cpu * 1e6 / static_cast<double>(s.responses)).c_str(), s.user_s, s.sys_s);
  }
  if (!r.valid()) std::fprintf(out, "INVALID: %s (see above)\n", invalid_summary(r).c_str());
}

std::string to_json(const Report& r) {
  const Config& c = r.config;
  const Stats& s = r.stats;
  Json j;
  j.open('{');
  j.key("tool").string("hellepoll-loadgen");
  j.key("version").string(kVersion);
  j.key("command").open('[');
  for (const std::string& a : c.command) j.string(a);
  j.close(']');
  j.key("target").string(c.url_text);

  j.key("setting").open('{');
  j.key("threads").num(uint64_t{c.threads});
  j.key("connections").num(uint64_t{c.connections});
  j.key("pipeline").num(uint64_t{c.pipeline});
  j.key("backend").string(backend_name(c.backend));
  j.key("rate").num(c.rate);
  j.key("duration_s").num(c.count_mode() && !c.duration_given ? 0.0 : to_seconds(c.duration));
  j.key("requests").num(c.requests);
  j.key("http").string(c.http10 ? "1.0" : "1.1");
  j.key("keepalive").boolean(c.keepalive);
  j.key("warmup_s").num(to_seconds(c.warmup));
  j.key("method").string(c.method);
  j.key("request_bytes").num(uint64_t{RenderedRequest(c).size});
  j.key("expect_status").num(static_cast<uint64_t>(c.expect_status));
  j.key("expect_body").boolean(c.expect_body_given);
  j.key("expect_body_bytes").num(uint64_t{c.expect_body.size()});
  j.key("allow_unanswered").num(c.allow_unanswered);
  j.close('}');

  j.key("result").open('{');
  j.key("requests").num(s.requests);
  j.key("responses").num(s.responses);
  j.key("lost").num(s.lost);
  j.key("unanswered_at_end").num(s.unanswered_at_end);
  j.key("not_sent").num(s.not_sent);
  j.key("resent").num(s.resent);
  j.key("miscounted_connections").num(s.miscounted_connections);
  j.key("duration_s").num(s.duration_s);
  j.key("req_per_s").num(s.duration_s > 0 ? static_cast<double>(s.responses) / s.duration_s : 0.0);
  j.key("bytes_read").num(s.bytes_read);
  j.key("bytes_written").num(s.bytes_written);
  j.key("status").open('{');
  for (int k = 1; k <= 5; ++k) j.key(std::to_string(k) + "xx").num(s.status[k]);
  j.close('}');
  j.key("errors").open('{');
  for (size_t i = 0; i < kFailureKinds; ++i) {
    j.key(failure_name(static_cast<Failure>(i))).num(s.errors[i]);
  }
  j.key("total").num(s.error_total());
  j.close('}');
  j.key("valid").boolean(r.valid());
  j.close('}');

  j.key("latency_us");
  latency_json(j, s.latency, c.rate > 0);
  if (c.rate > 0) {
    j.key("uncorrected_latency_us");
    latency_json(j, s.uncorrected, false);
  }
  j.key("timeline").open('[');
  for (size_t i = 0; i < s.timeline.size(); ++i) {
    j.open('{').key("t").num(uint64_t{i + 1}).key("responses").num(s.timeline[i]).close('}');
  }
  j.close(']');
  j.key("client_cpu").open('{');
  j.key("user_s").num(s.user_s);
  j.key("sys_s").num(s.sys_s);
  j.key("us_per_request")
      .num(s.responses ? (s.user_s + s.sys_s) * 1e6 / static_cast<double>(s.responses) : 0.0);
  j.close('}');
  j.close('}');
  j.out() += '\n';
  return j.out();
}

}  // namespace loadgen
