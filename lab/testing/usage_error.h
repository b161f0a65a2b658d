// Test-only: the message of the UsageError a call throws, for tables of "bad input -> the
// message names the field".
#pragma once

#include <string>

#include "lab/errors.h"

namespace tlslab {

// Runs `call`; returns the UsageError's message, or "" when it threw nothing. Any other
// exception propagates (and fails the test), so a RuntimeError is not mistaken for one.
template <typename F>
std::string UsageErrorMessage(F&& call) {
  try {
    call();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

}  // namespace tlslab
