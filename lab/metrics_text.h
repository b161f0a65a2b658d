// Metric families and their text rendering: the Prometheus text format 0.0.4 (what HAProxy
// 2.6's exporter serves) and OpenMetrics 1.0.0 (what Prometheus asks for first). Pure: the
// HTTP side is lab/metrics_server.h, the lab's names are lab/metrics.h.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tlslab {

enum class MetricType { kGauge, kCounter };

struct MetricPoint {
  std::vector<std::pair<std::string, std::string>> labels;  // name, value (any text)
  double value = 0;
};

// One `# TYPE` / `# HELP` block. A counter's name ends in `_total` (the sample name in both
// formats; OpenMetrics names the family without the suffix).
struct MetricFamily {
  std::string name;
  MetricType type = MetricType::kGauge;
  std::string help;
  std::vector<MetricPoint> points;
};

enum class MetricsFormat { kPrometheusText, kOpenMetrics };

// OpenMetrics when the client's Accept header names application/openmetrics-text (Prometheus
// 2.x sends it first), else the 0.0.4 text format (curl, HAProxy's own choice).
MetricsFormat NegotiateFormat(std::string_view accept);
std::string_view ContentType(MetricsFormat format);

// Label values: backslash, double quote and line feed escaped (the text format 0.0.4's rules,
// and OpenMetrics 1.0.0 "escaped-string"); every other byte is kept.
std::string EscapeLabelValue(std::string_view value);
// HELP text: backslash and line feed escaped, plus the double quote in OpenMetrics.
std::string EscapeHelp(std::string_view help, MetricsFormat format);
// Shortest text that reads back as the same double; NaN, +Inf and -Inf as both formats spell
// them.
std::string FormatMetricValue(double value);

// The whole exposition; OpenMetrics ends with the mandatory "# EOF" line.
std::string RenderMetrics(const std::vector<MetricFamily>& families, MetricsFormat format);

}  // namespace tlslab
