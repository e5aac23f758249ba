// PathMap<V>: the router's string -> V table. Built once, then only read.
//
// std::unordered_map<std::string, V> costs a quarter of the router's time on
// the hot path: libstdc++'s murmur _Hash_bytes (a call, ~36 instructions
// for a one-byte path), then a bucket walk through nodes scattered on the
// heap. This is open addressing in one array of slots, each holding the
// key's hash and the index of its entry, probed linearly; the hash reads
// the path in 8-byte words. A lookup of "/" is about 20 instructions.
//
// Hash flooding: the keys are the routes, fixed before serving, so a client
// cannot lengthen a probe chain; the longest chain is set by the route
// table, at most a few slots at the load factor kept here (<= 1/2).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace hellepoll::http {

// 64-bit hash of a short string, 8 bytes per step (wyhash-style multiply
// and fold). Not for untrusted keys in a table they can insert into.
inline uint64_t path_hash(std::string_view s) {
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;
  auto mix = [](uint64_t a, uint64_t b) {
    const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
    return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
  };
  const char* p = s.data();
  size_t n = s.size();
  uint64_t h = kMul ^ n;
  while (n > 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = mix(h ^ w, kMul);
    p += 8;
    n -= 8;
  }
  uint64_t tail = 0;
  if (n >= 4) {  // two overlapping 4-byte loads cover 4..8 bytes
    uint32_t a, b;
    std::memcpy(&a, p, 4);
    std::memcpy(&b, p + n - 4, 4);
    tail = static_cast<uint64_t>(a) << 32 | b;
  } else if (n > 0) {
    tail = static_cast<uint64_t>(static_cast<uint8_t>(p[0])) << 16 |
           static_cast<uint64_t>(static_cast<uint8_t>(p[n / 2])) << 8 | static_cast<uint8_t>(p[n - 1]);
  }
  return mix(h ^ tail, kMul ^ 0xA0761D6478BD642Full);
}

template <class V>
class PathMap {
 public:
  // Build time: the value for `key`, inserted empty if absent. The
  // reference is good until the next insertion.
  V& operator[](std::string_view key) {
    const uint64_t h = path_hash(key);
    if (int64_t i = index_of(key, h); i >= 0) return entries_[static_cast<size_t>(i)].value;
    entries_.push_back(Entry{std::string(key), h, V{}});
    if (entries_.size() * 2 > slots_.size()) {
      rehash(slots_.empty() ? 8 : slots_.size() * 2);
    } else {
      place(static_cast<uint32_t>(entries_.size() - 1));
    }
    return entries_.back().value;
  }

  const V* find(std::string_view key) const {
    const int64_t i = index_of(key, path_hash(key));
    return i < 0 ? nullptr : &entries_[static_cast<size_t>(i)].value;
  }

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string key;
    uint64_t hash;
    V value;
  };
  struct Slot {
    uint64_t hash;
    uint32_t index;  // entries_[index - 1]; 0: empty
  };

  int64_t index_of(std::string_view key, uint64_t h) const {
    if (slots_.empty()) return -1;
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.index == 0) return -1;
      if (s.hash == h) {
        const std::string& k = entries_[s.index - 1].key;
        if (k.size() == key.size() && (key.empty() || std::memcmp(k.data(), key.data(), key.size()) == 0)) {
          return s.index - 1;
        }
      }
    }
  }
  void place(uint32_t e) {
    size_t i = entries_[e].hash & mask_;
    while (slots_[i].index != 0) i = (i + 1) & mask_;
    slots_[i] = Slot{entries_[e].hash, e + 1};
  }
  void rehash(size_t n) {
    slots_.assign(n, Slot{0, 0});
    mask_ = n - 1;
    for (uint32_t e = 0; e < entries_.size(); ++e) place(e);
  }

  std::vector<Entry> entries_;
  std::vector<Slot> slots_;  // a power of two, at most half full
  size_t mask_ = 0;
};

}  // namespace hellepoll::http
