// run(config): RunLab on a thread of its own while the calling thread waits with the GIL
// released, waking every 100 ms to let Python handle signals. A KeyboardInterrupt (or any
// exception a signal handler raises) writes to the eventfd that RunLab watches as its stop
// fd, so the run ends promptly and cleanly (engines stopped and joined) before the exception
// propagates.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <future>
#include <memory>
#include <thread>

#include "app/lab_run.h"
#include "bindings/bindings.h"
#include "lab/errors.h"
#include "lab/flags.h"
#include "lab/report.h"

namespace py = pybind11;

namespace tlslab::bindings {
namespace {

constexpr std::chrono::milliseconds kSignalPoll{100};

class EventFd {
 public:
  EventFd() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (fd_ < 0) throw RuntimeError(std::string("eventfd: ") + std::strerror(errno));
  }
  ~EventFd() { close(fd_); }
  EventFd(const EventFd&) = delete;
  EventFd& operator=(const EventFd&) = delete;
  int fd() const { return fd_; }
  void Signal() const {
    const uint64_t one = 1;
    // Cannot fail short of a full counter, which one write per run never reaches.
    [[maybe_unused]] ssize_t n = write(fd_, &one, sizeof one);
  }

 private:
  int fd_;
};

py::object Run(const BoundConfig& bound) {
  if (bound.command != Command::kRun) throw UsageError("run() takes a Config of `tlslab run`");
  Config config = bound.config;
  config.output.json = true;  // the document describes the run as `tlslab run --json` does
  EventFd stop;
  std::promise<nlohmann::json> promise;
  std::future<nlohmann::json> result = promise.get_future();
  std::thread worker;
  {
    SignalsBlockedForNewThreads blocked;  // the worker and the engines it starts
    worker = std::thread([&config, &stop, &promise] {
      try {
        std::unique_ptr<Trace> trace;
        if (config.output.trace) trace = std::make_unique<Trace>(stderr);
        promise.set_value(ToJson(RunLab(config, stop.fd(), trace.get())));
      } catch (...) {
        promise.set_exception(std::current_exception());
      }
    });
  }
  // Whatever happens below, the worker is stopped and joined before `stop` closes.
  auto stop_and_join = [&] {
    stop.Signal();
    py::gil_scoped_release nogil;
    worker.join();
  };
  for (;;) {
    bool ready = false;
    {
      py::gil_scoped_release nogil;
      ready = result.wait_for(kSignalPoll) == std::future_status::ready;
    }
    if (ready) break;
    if (PyErr_CheckSignals() != 0) {
      stop_and_join();
      throw py::error_already_set();  // KeyboardInterrupt, as Python set it
    }
  }
  {
    py::gil_scoped_release nogil;
    worker.join();
  }
  return ToPython(result.get());  // rethrows UsageError / RuntimeError from the run
}

}  // namespace

void RegisterRun(py::module_& m) {
  m.def("run", &Run, py::arg("config"),
        "Runs `tlslab run` with this CoreConfig in this process (server and checker on threads "
        "of their own) and returns its JSON document as Python objects. The GIL is released; "
        "Ctrl-C stops the run "
        "and raises KeyboardInterrupt.");
}

}  // namespace tlslab::bindings
