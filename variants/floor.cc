// floor: the cost floor. The same scheduler, listener, worker and socket
// handling as every variant, but no HTTP: each "\r\n\r\n" read is answered
// with one pre-rendered response, all answers to one read in one send().
// It makes the same syscalls as the HTTP variants (recv, send), so that the
// difference between them is user space only.
// Whatever a real variant costs above this is the price of HTTP itself.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "server/listener.h"
#include "variants/options.h"
#include "variants/workers.h"

namespace hellepoll::variants {
namespace {

// "Connection: keep-alive" lets ApacheBench -k (HTTP/1.0) reuse the
// connection. The floor never closes first, so it serves keep-alive
// scenarios only (not ab -c25).
constexpr char kResponse[] =
    "HTTP/1.1 200 OK\r\nServer: floor\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n"
    "Connection: keep-alive\r\n\r\nHello World";
constexpr size_t kResponseLen = sizeof kResponse - 1;

class FloorConnection final : public Task {
 public:
  FloorConnection(Scheduler& s, std::vector<FloorConnection*>& free_list) : sched_(s), free_(free_list) {}
  void start(UniqueFd fd) {
    fd_ = std::move(fd);
    matched_ = 0;
    if (!sched_.add(fd_.get(), this, kReadable)) {
      fd_.reset();
      free_.push_back(this);
    }
  }

  void on_readable() override {
    char buf[16384];
    for (;;) {
      ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
      if (n <= 0) {
        if (n < 0 && errno == EAGAIN) {
          mark_sated();
          return;
        }
        if (n < 0 && errno == EINTR) continue;
        close();
        return;
      }
      size_t answers = count_terminators(buf, static_cast<size_t>(n));
      if (answers && !reply(answers)) return;
      if (!sched_.edge_triggered()) return;
    }
  }
  std::string_view task_name() const override { return "floor-connection"; }

 private:
  // Counts "\r\n\r\n", carrying a partial match across reads. The floor
  // must not cost more than the parsers it is the floor of: memchr finds
  // each LF (a request has three), and only the bytes around it are looked
  // at, not every byte in a loop (which cost ~500 instructions a request).
  size_t count_terminators(const char* p, size_t n) {
    size_t count = 0, i = 0;
    // A terminator begun in the previous read: finish it byte by byte.
    while (matched_ != 0 && i < n) {
      if (step(p[i++]) == 4) {
        ++count;
        matched_ = 0;
      }
    }
    // From `start` on, no match is in progress: find the rest by their LFs.
    size_t start = i;
    for (size_t from = start + 3; from < n;) {
      const auto* lf = static_cast<const char*>(std::memchr(p + from, '\n', n - from));
      if (!lf) break;
      const auto at = static_cast<size_t>(lf - p);
      if (std::memcmp(lf - 3, "\r\n\r\n", 4) == 0) {
        ++count;
        start = at + 1;
        from = start + 3;
      } else {
        from = at + 1;
      }
    }
    // What the last (at most three) bytes begin of the next terminator.
    for (i = std::max(start, n >= 3 ? n - 3 : 0); i < n; ++i) step(p[i]);
    return count;
  }
  int step(char c) {
    static constexpr char kEnd[] = "\r\n\r\n";
    matched_ = c == kEnd[matched_] ? matched_ + 1 : (c == '\r' ? 1 : 0);
    return matched_;
  }
  bool reply(size_t answers) {
    out_.clear();
    for (size_t i = 0; i < answers; ++i) out_.insert(out_.end(), kResponse, kResponse + kResponseLen);
    size_t off = 0;
    while (off < out_.size()) {
      ssize_t w = ::send(fd_.get(), out_.data() + off, out_.size() - off, MSG_NOSIGNAL);
      if (w > 0) {
        off += static_cast<size_t>(w);
        continue;
      }
      if (w < 0 && errno == EINTR) continue;
      close();  // the floor does not queue: a client that does not read is dropped
      return false;
    }
    return true;
  }
  void close() {
    sched_.forget(fd_.get());
    fd_.reset();
    free_.push_back(this);
  }

  Scheduler& sched_;
  std::vector<FloorConnection*>& free_;
  UniqueFd fd_;
  std::vector<char> out_;
  int matched_ = 0;
};

class FloorWorker final : public Worker {
 public:
  FloorWorker(UniqueFd sock, bool shared)
      : listener_(
            sched_, std::move(sock), [this](UniqueFd fd) { accept(std::move(fd)); },
            Listener::Options{.nodelay = true, .exclusive = shared}) {}
  Scheduler& scheduler() override { return sched_; }
  void drain() override {
    listener_.close();
    sched_.stop();
  }

 private:
  void accept(UniqueFd fd) {
    if (free_.empty()) {
      conns_.push_back(std::make_unique<FloorConnection>(sched_, free_));
      free_.push_back(conns_.back().get());
    }
    FloorConnection* c = free_.back();
    free_.pop_back();
    c->start(std::move(fd));
  }

  Scheduler sched_{Trigger::kLevel};
  Listener listener_;
  std::vector<std::unique_ptr<FloorConnection>> conns_;
  std::vector<FloorConnection*> free_;
};

}  // namespace
}  // namespace hellepoll::variants

// Processes, like helloworld: a worker process has one thread, so glibc's
// recv()/send() skip the cancellation-point bookkeeping a multi-threaded
// process pays on every call (~100 instructions a request, callgrind), which
// the floor must not carry and helloworld does not.
int main(int argc, char** argv) {
  using namespace hellepoll::variants;
  const Identity id{"floor", "level", "write", "procs"};
  Options opts;
  if (int rc = parse_options(argc, argv, id, &opts); rc >= 0) return rc;
  return Procs::run(opts, id, [](int, hellepoll::UniqueFd sock, bool shared) -> std::unique_ptr<Worker> {
    return std::make_unique<FloorWorker>(std::move(sock), shared);
  });
}
