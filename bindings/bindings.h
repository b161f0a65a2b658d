// The private module tlslab._tlslab: a thin layer over the untouched core. It converts types,
// releases the GIL in long calls and keeps SIGINT for Python's main thread; behaviour (flags,
// validation, defaults, runs) stays in lab/, servers/, clients/ and app/. module.cc calls one
// Register*() per file.
#pragma once

#include <pybind11/pybind11.h>

#include <csignal>
#include <nlohmann/json.hpp>
#include <string>

#include "lab/flags.h"

namespace tlslab::bindings {

void RegisterConfig(pybind11::module_& m);    // the flag table, CoreConfig, durations
void RegisterRun(pybind11::module_& m);       // run(CoreConfig) -> the JSON document
void RegisterServer(pybind11::module_& m);    // Server: virtual backends in this process
void RegisterVersions(pybind11::module_& m);  // versions(), profiles(), probe()

// A validated Config and the command whose flags describe it (what tlslab.Config holds).
struct BoundConfig {
  Command command = Command::kRun;
  Config config;
};

// A JSON document as Python objects (dict, list, str, int, float, bool, None), built directly
// from nlohmann's tree: no text in between.
pybind11::object ToPython(const nlohmann::json& j);

// While alive, SIGINT and SIGTERM are blocked in the calling thread, so threads started in
// the meantime inherit the blocked mask: the signals then go to Python's main thread, whose
// handler raises KeyboardInterrupt, never to an event loop. Restores the mask when destroyed.
class SignalsBlockedForNewThreads {
 public:
  SignalsBlockedForNewThreads();
  ~SignalsBlockedForNewThreads();
  SignalsBlockedForNewThreads(const SignalsBlockedForNewThreads&) = delete;
  SignalsBlockedForNewThreads& operator=(const SignalsBlockedForNewThreads&) = delete;

 private:
  sigset_t old_{};
};

}  // namespace tlslab::bindings
