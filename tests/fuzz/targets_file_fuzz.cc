// libFuzzer: a --targets-file (clients/checker_engine.cc LoadTargets over lab/net.cc
// ParseHostPort): comments, blank lines, IPv4/IPv6 literals and ports. The file is a memfd.
// Inputs with letters beyond hex digits are skipped: such a host name would go to the
// system's resolver (getaddrinfo), and a fuzzer must not send DNS queries.
#include <sys/mman.h>
#include <unistd.h>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>

#include "clients/checker_engine.h"
#include "lab/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 8192) return 0;
  for (size_t i = 0; i < size; ++i) {
    if (std::isalpha(data[i]) && !std::isxdigit(data[i])) return 0;
  }
  int fd = memfd_create("targets", MFD_CLOEXEC);
  if (fd < 0) return 0;
  if (write(fd, data, size) == static_cast<ssize_t>(size)) {
    tlslab::CheckerConfig config;
    config.targets_file = "/proc/self/fd/" + std::to_string(fd);
    try {
      auto targets = tlslab::LoadTargets(config);
      for (const auto& t : targets) {
        if (t.port() < 1 || t.port() > 65535) __builtin_trap();
      }
    } catch (const tlslab::UsageError&) {
    }
  }
  close(fd);
  return 0;
}
