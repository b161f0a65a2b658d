// Server: the virtual backends of `tlslab serve`, started in this process, so that Python code
// (a notebook's own client, a `tlslab check` process) can point at their ports and read the
// server's counters live. Built from a CoreConfig (the fields of `tlslab serve`).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>

#include "bindings/bindings.h"
#include "lab/errors.h"
#include "lab/flags.h"
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

  py::dict Stats() const {
    if (!engine_) throw RuntimeError("the server is closed");
    const ServerTotals t = engine_->Totals();
    py::dict kinds, removed;
    for (CloseKind kind : kAllCloseKinds) {
      kinds[py::str(std::string(Name(kind)))] = t.close_kinds[Index(kind)];
      removed[py::str(std::string(Name(kind)))] = t.sessions_removed[Index(kind)];
    }
    py::dict out;
    out["connections_total"] = t.connections;
    out["full_handshakes_total"] = t.full_handshakes;
    out["resumed_handshakes_total"] = t.resumed_handshakes;
    out["close_kinds"] = kinds;
    out["sessions_removed_total"] = removed;
    out["cpu_ns"] = engine_->CpuNs();
    return out;
  }

  const std::vector<int>& ports() const { return ports_; }
  const std::vector<std::string>& targets() const { return targets_; }
  bool closed() const { return !engine_; }

 private:
  Config config_;
  std::unique_ptr<Trace> trace_;
  std::unique_ptr<ServerEngine> engine_;
  std::vector<int> ports_;
  std::vector<std::string> targets_;
};

}  // namespace

void RegisterServer(py::module_& m) {
  py::class_<Server>(m, "Server", "Virtual TLS backends (`tlslab serve` flags) in this process.")
      .def(py::init<const BoundConfig&>(), py::arg("config"),
           "Builds and starts the backends; raises UsageError (ValueError) or LabRuntimeError.")
      .def("close", &Server::Close, "Stops the event loops and closes the listeners.")
      .def("stats", &Server::Stats, "Counters since the start and CPU of the server threads.")
      .def_property_readonly("ports", &Server::ports)
      .def_property_readonly("targets", &Server::targets)
      .def_property_readonly("closed", &Server::closed);
}

}  // namespace tlslab::bindings
