#include "lab/command_main.h"

#include <cstdio>
#include <exception>

#include "lab/errors.h"

namespace tlslab {

int GuardedMain(const std::function<int()>& body) {
  try {
    return body();
  } catch (const UsageError& e) {
    std::fprintf(stderr, "tlslab: error: %s\n", e.what());
    return 2;
  } catch (const RuntimeError& e) {
    std::fprintf(stderr, "tlslab: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "tlslab: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tlslab: error: %s\n", e.what());
    return 1;
  }
}

}  // namespace tlslab
