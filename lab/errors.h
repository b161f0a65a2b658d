// Errors a person reads: one line naming the bad value and what would be accepted.
#pragma once

#include <stdexcept>
#include <string>

namespace tlslab {

// Bad flags, bad files, bad config values: exit code 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The environment refused (port in use, too many open files, OpenSSL failure): exit code 1.
class RuntimeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace tlslab
