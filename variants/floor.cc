// floor and uring_floor: the cost floor. The same scheduler, listener,
// worker and socket handling as the variants of their backend, but no HTTP:
// each "\r\n\r\n" read is answered with one pre-rendered response, all
// answers to one read in one send. `floor` (level-triggered epoll) makes the
// same syscalls as the HTTP variants (recv, send); `uring_floor` the same
// io_uring operations as the uring variants (multishot receive into the
// provided buffers, one send in flight, submitted with the wait). So the
// difference between a variant and its floor is user space only: whatever a
// real variant costs above it is the price of HTTP itself.
//
// `floor --file PATH` is the floor of the static-* scenarios: every request
// is answered with that one file, the head sent with MSG_MORE and the body
// with sendfile() (resumed when the socket is full), as nginx sends a file
// with `sendfile on; tcp_nopush on`. What StaticFiles costs above it is the
// price of paths, the open-file cache and conditional headers.
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "server/backend/backends.h"
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

// The one file `--file` answers with, opened once before the workers start
// (sendfile() takes an offset per call, so they share the descriptor).
struct FileAnswer {
  hellepoll::UniqueFd fd;
  off_t size = 0;
  std::string head;
};

#ifdef HELLEPOLL_FLOOR_URING
constexpr Trigger kTrigger = Trigger::kCompletion;
#else
constexpr Trigger kTrigger = Trigger::kLevel;
#endif
using Sched = SchedulerFor<kTrigger>;
constexpr bool kUring = kTrigger == Trigger::kCompletion;

// Counts "\r\n\r\n", carrying a partial match across reads. The floor
// must not cost more than the parsers it is the floor of: memchr finds
// each LF (a request has three), and only the bytes around it are looked
// at, not every byte in a loop (which cost ~500 instructions a request).
class TerminatorCounter {
 public:
  void reset() { matched_ = 0; }
  size_t count(const char* p, size_t n) {
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

 private:
  int step(char c) {
    static constexpr char kEnd[] = "\r\n\r\n";
    matched_ = c == kEnd[matched_] ? matched_ + 1 : (c == '\r' ? 1 : 0);
    return matched_;
  }
  int matched_ = 0;
};

// The answers owed for `answers` requests, appended to `out`.
void render(std::vector<char>& out, size_t answers) {
  for (size_t i = 0; i < answers; ++i) out.insert(out.end(), kResponse, kResponse + kResponseLen);
}

// On io_uring: bytes arrive in completions, answers leave in one send in
// flight at a time (answers owed meanwhile wait in `next_`).
class UringFloorConnection final : public Task {
 public:
  UringFloorConnection(UringScheduler& s, std::vector<UringFloorConnection*>& free_list)
      : sched_(s), free_(free_list) {}
  void start(UniqueFd fd) {
    fd_ = std::move(fd);
    counter_.reset();
    reg_ = sched_.attach(fd_.get(), this);
    sched_.receive(reg_);
  }
  void on_readable() override {}
  size_t on_received(std::string_view bytes) override {
    if (!fd_) return bytes.size();
    if (size_t answers = counter_.count(bytes.data(), bytes.size())) {
      render(next_, answers);
      if (out_.empty()) {
        send_next();
      } else if (next_.size() > kMaxOwed) {
        close();  // the floor does not queue without bound for a client that does not read
      }
    }
    return bytes.size();
  }
  void on_receive_end(int) override { close(); }
  void on_sent(int result) override {
    if (!fd_) return;
    if (result <= 0) {
      close();  // the floor does not queue: a client that does not read is dropped
      return;
    }
    sent_ += static_cast<size_t>(result);
    if (sent_ < out_.size()) {
      sched_.send(reg_, out_.data() + sent_, out_.size() - sent_, MSG_NOSIGNAL);
      return;
    }
    out_.clear();
    if (!next_.empty()) send_next();
  }
  void on_released() override {
    out_.clear();
    next_.clear();
    free_.push_back(this);
  }
  std::string_view task_name() const override { return "floor-connection"; }

 private:
  void send_next() {
    out_.swap(next_);
    sent_ = 0;
    sched_.send(reg_, out_.data(), out_.size(), MSG_NOSIGNAL);
  }
  void close() {
    if (!fd_) return;
    // A send in flight holds the socket open until the peer reads; the
    // ring's close would wait for it. Shut down, it fails at once.
    if (!out_.empty()) ::shutdown(fd_.get(), SHUT_RDWR);
    sched_.release(reg_, std::move(fd_));
  }
  static constexpr size_t kMaxOwed = 256 * 1024;

  UringScheduler& sched_;
  std::vector<UringFloorConnection*>& free_;
  UniqueFd fd_;
  UringScheduler::Reg reg_ = UringScheduler::kNoReg;
  TerminatorCounter counter_;
  std::vector<char> out_;   // in flight
  std::vector<char> next_;  // owed, queued behind it
  size_t sent_ = 0;
};

class FloorConnection final : public Task {
 public:
  FloorConnection(Scheduler& s, std::vector<FloorConnection*>& free_list, const FileAnswer* file)
      : sched_(s), free_(free_list), file_(file) {}
  void start(UniqueFd fd) {
    fd_ = std::move(fd);
    counter_.reset();
    owed_ = 0;
    head_sent_ = 0;
    body_sent_ = 0;
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
      size_t answers = counter_.count(buf, static_cast<size_t>(n));
      if (answers == 0) return;
      if (file_) {
        owed_ += answers;
        send_files();
      } else {
        reply(answers);
      }
      return;  // level-triggered: epoll reports what is left
    }
  }
  void on_writable() override {
    if (file_) send_files();
  }
  std::string_view task_name() const override { return "floor-connection"; }

 private:
  // Sends the files owed. A full socket waits for EPOLLOUT with reading
  // paused (requests queue in the socket meanwhile), then reading resumes.
  void send_files() {
    const auto size = static_cast<size_t>(file_->size);
    while (owed_ > 0) {
      while (head_sent_ < file_->head.size()) {
        ssize_t w = ::send(fd_.get(), file_->head.data() + head_sent_, file_->head.size() - head_sent_,
                           MSG_NOSIGNAL | (size != 0 ? MSG_MORE : 0));  // an empty file ends here
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) return wait_writable();
        if (w <= 0) return close();
        head_sent_ += static_cast<size_t>(w);
      }
      while (body_sent_ < size) {
        auto off = static_cast<off_t>(body_sent_);
        ssize_t w = ::sendfile(fd_.get(), file_->fd.get(), &off, size - body_sent_);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) return wait_writable();
        if (w <= 0) return close();  // 0: the file shrank; the answer cannot be finished
        body_sent_ += static_cast<size_t>(w);
      }
      --owed_;
      head_sent_ = 0;
      body_sent_ = 0;
    }
    if (waiting_) {
      waiting_ = false;
      if (!sched_.modify(fd_.get(), kReadable)) close();
    }
  }
  void wait_writable() {
    if (waiting_) return;
    waiting_ = true;
    if (!sched_.modify(fd_.get(), kWritable)) close();
  }
  void reply(size_t answers) {
    out_.clear();
    render(out_, answers);
    size_t off = 0;
    while (off < out_.size()) {
      ssize_t w = ::send(fd_.get(), out_.data() + off, out_.size() - off, MSG_NOSIGNAL);
      if (w > 0) {
        off += static_cast<size_t>(w);
        continue;
      }
      if (w < 0 && errno == EINTR) continue;
      close();  // the floor does not queue: a client that does not read is dropped
      return;
    }
  }
  void close() {
    sched_.forget(fd_.get());
    fd_.reset();
    waiting_ = false;
    free_.push_back(this);
  }

  Scheduler& sched_;
  std::vector<FloorConnection*>& free_;
  const FileAnswer* file_;
  UniqueFd fd_;
  size_t owed_ = 0;  // files owed, the first one partly sent
  size_t head_sent_ = 0;
  size_t body_sent_ = 0;
  bool waiting_ = false;  // for EPOLLOUT, reading paused
  std::vector<char> out_;
  TerminatorCounter counter_;
};

using Conn = std::conditional_t<kUring, UringFloorConnection, FloorConnection>;

class FloorWorker final : public Worker {
 public:
  FloorWorker(UniqueFd sock, bool shared, const FileAnswer* file)
      : file_(file),
        listener_(
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
      if constexpr (kUring) {
        conns_.push_back(std::make_unique<Conn>(sched_, free_));
      } else {
        conns_.push_back(std::make_unique<Conn>(sched_, free_, file_));
      }
      free_.push_back(conns_.back().get());
    }
    Conn* c = free_.back();
    free_.pop_back();
    c->start(std::move(fd));
  }

  const FileAnswer* file_;
  Sched sched_;
  Listener listener_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<Conn*> free_;
};

}  // namespace
}  // namespace hellepoll::variants

// Processes, like helloworld: a worker process has one thread, so glibc's
// recv()/send() skip the cancellation-point bookkeeping a multi-threaded
// process pays on every call (~100 instructions a request, callgrind), which
// the floor must not carry and helloworld does not.
int main(int argc, char** argv) {
  using namespace hellepoll::variants;
#ifdef HELLEPOLL_FLOOR_URING
  const Identity id{"uring_floor", "uring", "write", "procs", Sched::kName};
#else
  const Identity id{"floor", "level", "write", "procs", Sched::kName};
#endif
  Options opts;
  if (int rc = parse_options(argc, argv, id, &opts); rc >= 0) return rc;
  if constexpr (kUring) {
    if (const std::string why = hellepoll::UringScheduler::unavailable(); !why.empty()) {
      std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(id.name.size()), id.name.data(), why.c_str());
      return 1;
    }
  }
  FileAnswer file;
  if (!opts.file.empty()) {
    file.fd = hellepoll::UniqueFd(::open(opts.file.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    const char* why = nullptr;
    if (!file.fd || ::fstat(file.fd.get(), &st) != 0)
      why = std::strerror(errno);
    else if (!S_ISREG(st.st_mode))
      why = "not a regular file";
    if (why) {
      std::fprintf(stderr, "floor: --file %s: %s\n", opts.file.c_str(), why);
      return 1;
    }
    file.size = st.st_size;
    file.head =
        "HTTP/1.1 200 OK\r\nServer: floor\r\nContent-Type: application/octet-stream\r\n"
        "Content-Length: " +
        std::to_string(st.st_size) + "\r\nConnection: keep-alive\r\n\r\n";
  }
  const FileAnswer* answer = opts.file.empty() ? nullptr : &file;
  return Procs::run(opts, id,
                    [answer](int, hellepoll::UniqueFd sock, bool shared) -> std::unique_ptr<Worker> {
                      return std::make_unique<FloorWorker>(std::move(sock), shared, answer);
                    });
}
