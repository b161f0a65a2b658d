#include "lab/metrics_text.h"

#include <charconv>
#include <cmath>

namespace tlslab {

MetricsFormat NegotiateFormat(std::string_view accept) {
  // Prometheus 2.x: "application/openmetrics-text;version=1.0.0,application/openmetrics-text;
  // version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1" (scrape/scrape.go). We
  // serve OpenMetrics to whoever names it at all, which is the only client that parses it.
  return accept.find("application/openmetrics-text") != std::string_view::npos
             ? MetricsFormat::kOpenMetrics
             : MetricsFormat::kPrometheusText;
}

std::string_view ContentType(MetricsFormat format) {
  switch (format) {
    case MetricsFormat::kPrometheusText:
      return "text/plain; version=0.0.4; charset=utf-8";
    case MetricsFormat::kOpenMetrics:
      return "application/openmetrics-text; version=1.0.0; charset=utf-8";
  }
  return "text/plain";
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char ch : value) {
    if (ch == '\\') {
      out += "\\\\";
    } else if (ch == '"') {
      out += "\\\"";
    } else if (ch == '\n') {
      out += "\\n";
    } else {
      out += ch;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view help, MetricsFormat format) {
  std::string out;
  out.reserve(help.size());
  for (char ch : help) {
    if (ch == '\\') {
      out += "\\\\";
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch == '"' && format == MetricsFormat::kOpenMetrics) {
      out += "\\\"";
    } else {
      out += ch;
    }
  }
  return out;
}

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  if (ec != std::errc()) return "NaN";
  return std::string(buf, end);
}

namespace {

std::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kCounter:
      return "counter";
  }
  return "unknown";
}

// OpenMetrics 1.0.0: a counter family is named without "_total"; its sample keeps it.
std::string_view FamilyName(const MetricFamily& f, MetricsFormat format) {
  std::string_view name = f.name;
  constexpr std::string_view kTotal = "_total";
  if (format == MetricsFormat::kOpenMetrics && f.type == MetricType::kCounter &&
      name.size() > kTotal.size() && name.ends_with(kTotal)) {
    name.remove_suffix(kTotal.size());
  }
  return name;
}

}  // namespace

std::string RenderMetrics(const std::vector<MetricFamily>& families, MetricsFormat format) {
  std::string out;
  for (const MetricFamily& f : families) {
    const std::string_view family = FamilyName(f, format);
    out.append("# HELP ").append(family).append(" ").append(EscapeHelp(f.help, format));
    out.append("\n# TYPE ").append(family).append(" ").append(TypeName(f.type)).append("\n");
    for (const MetricPoint& p : f.points) {
      out.append(f.name);
      if (!p.labels.empty()) {
        out += '{';
        for (size_t i = 0; i < p.labels.size(); ++i) {
          if (i > 0) out += ',';
          out.append(p.labels[i].first).append("=\"");
          out.append(EscapeLabelValue(p.labels[i].second)).append("\"");
        }
        out += '}';
      }
      out.append(" ").append(FormatMetricValue(p.value)).append("\n");
    }
  }
  if (format == MetricsFormat::kOpenMetrics) out += "# EOF\n";
  return out;
}

}  // namespace tlslab
