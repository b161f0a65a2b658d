// versions(), profiles() and probe(): the core's other documents, in this process and as
// Python objects built from the same nlohmann documents the commands print.
#include <pybind11/pybind11.h>

#include <memory>

#include "app/commands.h"
#include "bindings/bindings.h"
#include "clients/probe_command.h"
#include "lab/errors.h"
#include "lab/report.h"

namespace py = pybind11;

namespace tlslab::bindings {
namespace {

// `tlslab probe TARGET --json` in this process. The probe is sequential and every wait in it
// is bounded (clients/probe.h), so it runs on the calling thread with the GIL released; a
// Ctrl-C is seen when it returns.
py::object Probe(const BoundConfig& bound, const std::string& target) {
  if (bound.command != Command::kProbe) {
    throw UsageError("probe() takes a Config of `tlslab probe`");
  }
  Config config = bound.config;
  config.probe.target = target;
  ValidateProbeCommand(config);
  nlohmann::json doc;
  {
    py::gil_scoped_release nogil;
    std::unique_ptr<Trace> trace;
    if (config.output.trace) trace = std::make_unique<Trace>(stderr);
    doc = ProbeDocument(config, RunProbeCommand(config, trace.get()));
  }
  return ToPython(doc);
}

}  // namespace

void RegisterVersions(py::module_& m) {
  m.def(
      "versions", [] { return ToPython(Versions()); },
      "tlslab version, git commit and OpenSSL version of this build.");
  m.def(
      "profiles", [] { return ToPython(ProfilesJson()); },
      "The document of `tlslab profiles --json`: server and checker profiles.");
  m.def("probe", &Probe, py::arg("config"), py::arg("target"),
        "Probes HOST:PORT with a CoreConfig of `tlslab probe`; returns the document of "
        "`tlslab probe --json` (the verdict, and `expect` when asked).");
}

}  // namespace tlslab::bindings
