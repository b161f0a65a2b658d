// Durations as people write them in HAProxy configurations: "2s", "500ms", "1m", "2000"
// (a bare number is milliseconds, as in HAProxy's `inter 2000`).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace tlslab {

using Millis = std::chrono::milliseconds;

std::optional<Millis> ParseDuration(std::string_view text);
// The shortest exact spelling: 2000ms -> "2s", 1500ms -> "1500ms".
std::string FormatDuration(Millis d);

}  // namespace tlslab
