// In-memory half of `tlslab calibrate`: CPU per TLS operation and side, measured on a client
// and a server SSL object joined by memory BIOs (no sockets: each side's SSL_* calls are timed
// on the thread CPU clock). The loopback half (app/calibrate_command.cc) runs the lab's own
// engines briefly and attributes what remains per check to the socket and event-loop floor.
#pragma once

#include <chrono>

#include "lab/config.h"
#include "sim/costs.h"

namespace tlslab {

// Costs of one key and version; floor is left 0 (the loopback half sets it).
// `budget` bounds the CPU spent per operation measured.
VersionCosts MeasureInMemory(KeyType key, TlsVersion version, std::chrono::milliseconds budget);

}  // namespace tlslab
