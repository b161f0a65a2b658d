// tlslab._tlslab: the compiled half of the Python package (see bindings.h).
#include <pybind11/pybind11.h>

#include "bindings/bindings.h"
#include "lab/errors.h"

namespace py = pybind11;

namespace tlslab::bindings {

py::object ToPython(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::object: {
      py::dict d;
      for (const auto& [key, value] : j.items()) d[py::str(key)] = ToPython(value);
      return d;
    }
    case nlohmann::json::value_t::array: {
      py::list l;
      for (const auto& value : j) l.append(ToPython(value));
      return l;
    }
    case nlohmann::json::value_t::string:
      return py::str(j.get_ref<const std::string&>());
    case nlohmann::json::value_t::boolean:
      return py::bool_(j.get<bool>());
    case nlohmann::json::value_t::number_integer:
      return py::int_(j.get<int64_t>());
    case nlohmann::json::value_t::number_unsigned:
      return py::int_(j.get<uint64_t>());
    case nlohmann::json::value_t::number_float:
      return py::float_(j.get<double>());
    default:
      return py::none();
  }
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
  // (port in use, an OpenSSL failure) a RuntimeError.
  py::register_exception<tlslab::UsageError>(m, "UsageError", PyExc_ValueError);
  py::register_exception<tlslab::RuntimeError>(m, "LabRuntimeError", PyExc_RuntimeError);
  tlslab::bindings::RegisterConfig(m);
  tlslab::bindings::RegisterRun(m);
  tlslab::bindings::RegisterServer(m);
  tlslab::bindings::RegisterVersions(m);
}
