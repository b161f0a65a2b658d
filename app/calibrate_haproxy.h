// tlslab calibrate --checker haproxy: the real HAProxy as the checker of the lab's backends
// (in this process, loopback), at two known check rates, every check full and every check
// resumed; its CPU read from /proc. The result is a checker cost set (sim/checker_costs.h)
// for `tlslab simulate --checker-costs FILE`.
#pragma once

#include <array>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lab/config.h"

namespace tlslab {

struct HaproxyCalibration {
  std::string haproxy = "haproxy";  // the binary: a path, or a name looked up on PATH
  std::vector<KeyType> keys{KeyType::kRsa2048};
  std::vector<TlsVersion> versions{TlsVersion::kTls12, TlsVersion::kTls13};
  CheckKind check = CheckKind::kHttp;
  std::array<int, 2> backends{100, 300};  // servers checked every second: the two rates
  Millis run{5000};                       // length of each run, warm-up included
};

// The "checker", "checker_version", "costs" and "runs" blocks of a checker cost file.
// RuntimeError when HAProxy is missing, exits early, or checks nothing.
nlohmann::json CalibrateHaproxy(const HaproxyCalibration& options);

}  // namespace tlslab
