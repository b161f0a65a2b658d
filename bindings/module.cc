// tlslab._tlslab: the compiled half of the Python package (see bindings.h).
#include <pybind11/pybind11.h>

#include "bindings/bindings.h"
#include "lab/errors.h"

namespace py = pybind11;

namespace tlslab::bindings {

Command ParseCommand(const std::string& name) {
  if (name == "run") return Command::kRun;
  if (name == "serve") return Command::kServe;
  if (name == "check") return Command::kCheck;
  if (name == "incident") return Command::kIncident;
  throw UsageError("unknown command '" + name + "'; expected run, serve, check or incident");
}

SignalsBlockedForNewThreads::SignalsBlockedForNewThreads() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, &old_);
}

SignalsBlockedForNewThreads::~SignalsBlockedForNewThreads() {
  pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

}  // namespace tlslab::bindings

PYBIND11_MODULE(_tlslab, m) {
  m.doc() = "tlslab's compiled core (private: use the `tlslab` package)";
  // Bad input (a flag value, a profile name) is a ValueError; a refusal of the environment
  // (port in use, too many open files, an OpenSSL failure) a RuntimeError.
  py::register_exception<tlslab::UsageError>(m, "UsageError", PyExc_ValueError);
  py::register_exception<tlslab::RuntimeError>(m, "LabRuntimeError", PyExc_RuntimeError);
  tlslab::bindings::RegisterConfig(m);
  tlslab::bindings::RegisterRun(m);
  tlslab::bindings::RegisterServer(m);
  tlslab::bindings::RegisterVersions(m);
}
