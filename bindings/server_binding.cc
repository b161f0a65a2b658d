// Server: the virtual backends of `tlslab serve`, started in this process, so that Python code
// (a notebook's own client, a `tlslab check` process) can point at their ports and read the
// server's counters live. Built from a CoreConfig (the fields of `tlslab serve`).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <memory>

#include "bindings/bindings.h"
#include "lab/errors.h"
#include "lab/flags.h"
#include "lab/report.h"
#include "servers/server_engine.h"

namespace py = pybind11;

namespace tlslab::bindings {
namespace {

class Server {
 public:
  explicit Server(const BoundConfig& bound) : config_(bound.config) {
    if (config_.output.trace) trace_ = std::make_unique<Trace>(stderr);
    {
      py::gil_scoped_release nogil;  // building contexts and certificates takes a while
      engine_ = std::make_unique<ServerEngine>(config_, trace_.get());
      SignalsBlockedForNewThreads blocked;  // the event loops leave signals to Python
      engine_->Start();
    }
    started_ = Clock::now();
    for (const Endpoint& ep : engine_->endpoints()) {
      ports_.push_back(ep.port());
      targets_.push_back(ep.text);
    }
  }

  ~Server() { Close(); }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void Close() {
    if (!engine_) return;
    py::gil_scoped_release nogil;
    engine_->Stop();
    engine_->Join();
    engine_.reset();
  }

  py::object Stats() const {
    if (!engine_) throw RuntimeError("the server is closed");
    const double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
    return ToPython(ToJson(ServerFigures{engine_->Totals(), seconds, engine_->CpuNs()}));
  }

  const std::vector<int>& ports() const { return ports_; }
  const std::vector<std::string>& targets() const { return targets_; }
  bool closed() const { return !engine_; }

 private:
  Config config_;
  std::unique_ptr<Trace> trace_;
  std::unique_ptr<ServerEngine> engine_;
  Clock::time_point started_;
  std::vector<int> ports_;
  std::vector<std::string> targets_;
};

}  // namespace

void RegisterServer(py::module_& m) {
  py::class_<Server>(m, "Server", "Virtual TLS backends (`tlslab serve` flags) in this process.")
      .def(py::init<const BoundConfig&>(), py::arg("config"),
           "Builds and starts the backends; raises UsageError (ValueError) or LabRuntimeError.")
      .def("close", &Server::Close, "Stops the event loops and closes the listeners.")
      .def("stats", &Server::Stats,
           "The server's figures since the start (lab/report.h ServerFigures): the keys of "
           "`tlslab serve --json`.")
      .def_property_readonly("ports", &Server::ports)
      .def_property_readonly("targets", &Server::targets)
      .def_property_readonly("closed", &Server::closed);
}

}  // namespace tlslab::bindings
