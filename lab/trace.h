// --trace: one readable line per event per connection, in the vocabulary of docs/design.md, for
// teaching and debugging. Off by default; when off, callers pay one branch.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

namespace tlslab {

class Trace {
 public:
  explicit Trace(std::FILE* out) : out_(out), start_(std::chrono::steady_clock::now()) {}
  // side: "server" or "checker"; conn: a per-side connection number.
  void Line(std::string_view side, uint64_t conn, std::string_view backend, std::string_view event);

 private:
  std::FILE* out_;
  std::chrono::steady_clock::time_point start_;
  std::mutex mutex_;
};

}  // namespace tlslab
