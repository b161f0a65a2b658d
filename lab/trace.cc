#include "lab/trace.h"

namespace tlslab {

void Trace::Line(std::string_view side, uint64_t conn, std::string_view backend,
                 std::string_view event) {
  const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::lock_guard lock(mutex_);
  std::fprintf(out_, "%9.3f %-7.*s #%-6llu %-21.*s %.*s\n", t, static_cast<int>(side.size()),
               side.data(), static_cast<unsigned long long>(conn), static_cast<int>(backend.size()),
               backend.data(), static_cast<int>(event.size()), event.data());
}

}  // namespace tlslab
