// ByteBuffer and Pool: the memory a connection borrows while it has
// bytes in flight.
//
// An idle keep-alive connection owns no buffer at all: it borrows one from
// its thread's pool when bytes arrive and returns it when the request is
// answered and the output drained. Buffers keep their capacity when they go
// back to the pool, so steady-state requests allocate nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string_view>
#include <utility>
#include <vector>

namespace hellepoll::http {

// memcpy for the short strings a response is made of (a header value, an
// 11-byte body): two overlapping fixed-size moves instead of a call into
// libc's memcpy, which costs ~20 instructions before it copies a byte.
// Longer copies go to memcpy. `dst` must have room for n bytes.
inline void copy_short(char* dst, const char* src, size_t n) {
  if (n >= 8 && n <= 16) {
    uint64_t a, b;
    std::memcpy(&a, src, 8);
    std::memcpy(&b, src + n - 8, 8);
    std::memcpy(dst, &a, 8);
    std::memcpy(dst + n - 8, &b, 8);
  } else if (n >= 4 && n < 8) {
    uint32_t a, b;
    std::memcpy(&a, src, 4);
    std::memcpy(&b, src + n - 4, 4);
    std::memcpy(dst, &a, 4);
    std::memcpy(dst + n - 4, &b, 4);
  } else if (n > 0 && n < 4) {
    dst[0] = src[0];
    dst[n / 2] = src[n / 2];
    dst[n - 1] = src[n - 1];
  } else if (n > 16) {
    std::memcpy(dst, src, n);
  }
}

// A growable byte array that keeps its capacity across clear().
class ByteBuffer {
 public:
  ByteBuffer() = default;
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;
  ~ByteBuffer() { std::free(data_); }

  char* data() { return data_; }
  const char* data() const { return data_; }
  size_t size() const { return size_; }
  size_t capacity() const { return cap_; }
  bool empty() const { return size_ == 0; }
  std::string_view view() const { return {data_, size_}; }
  void clear() { size_ = 0; }
  // Drops everything after the first `n` bytes.
  void truncate(size_t n) {
    if (n < size_) size_ = n;
  }

  void reserve(size_t n) {
    if (n <= cap_) return;
    size_t cap = cap_ ? cap_ : 256;
    while (cap < n) cap *= 2;
    char* p = static_cast<char*>(std::realloc(data_, cap));
    if (!p) throw std::bad_alloc();
    data_ = p;
    cap_ = cap;
  }
  // Returns space for `n` more bytes; commit() what was written.
  char* prepare(size_t n) {
    reserve(size_ + n);
    return data_ + size_;
  }
  void commit(size_t n) { size_ += n; }
  void append(const char* p, size_t n) {
    copy_short(prepare(n), p, n);  // n == 0: p may be nullptr, nothing is read
    size_ += n;
  }
  void append(std::string_view s) { append(s.data(), s.size()); }
  void push_back(char c) {
    *prepare(1) = c;
    ++size_;
  }
  // Drops the first `n` bytes.
  void consume(size_t n) {
    if (n == 0) return;
    if (n >= size_) {
      size_ = 0;
      return;
    }
    std::memmove(data_, data_ + n, size_ - n);
    size_ -= n;
  }
  // Exchanges contents and capacities: no copy.
  void swap(ByteBuffer& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(cap_, o.cap_);
  }
  // Shrinks the allocation back to at most `keep` bytes (pool hygiene after a
  // large response, so one big download does not pin memory forever).
  void trim(size_t keep) {
    if (cap_ <= keep) return;
    std::free(data_);
    data_ = nullptr;
    cap_ = size_ = 0;
  }

 private:
  char* data_ = nullptr;
  size_t size_ = 0;
  size_t cap_ = 0;
};

// A free list of T, per thread (not thread-safe by design). Keeps at most
// `max_idle` spare objects; the rest are freed when returned.
template <class T>
class Pool {
 public:
  explicit Pool(size_t max_idle = 256) : max_idle_(max_idle) {}
  template <class... Args>
  T* take(Args&&... args) {
    if (!free_.empty()) {
      T* t = free_.back().release();
      free_.pop_back();
      return t;
    }
    ++allocated_;
    return new T(std::forward<Args>(args)...);
  }
  void give(T* t) {
    if (free_.size() < max_idle_) {
      free_.emplace_back(t);
    } else {
      --allocated_;
      delete t;
    }
  }
  // Takes `t`, in use, out of the pool's count: its new owner frees it.
  std::unique_ptr<T> disown(T* t) {
    --allocated_;
    return std::unique_ptr<T>(t);
  }
  size_t idle() const { return free_.size(); }
  size_t allocated() const { return allocated_; }  // in use + idle

 private:
  size_t max_idle_;
  size_t allocated_ = 0;
  std::vector<std::unique_ptr<T>> free_;
};

}  // namespace hellepoll::http
