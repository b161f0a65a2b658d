// The --metrics text (lab/metrics_text.h), its request parsing (lab/metrics_server.h) and the
// lab's families (lab/metrics.h): escaping, # TYPE/# HELP lines, the OpenMetrics EOF line.
#include "lab/metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "lab/errors.h"
#include "lab/metrics_server.h"
#include "lab/metrics_text.h"

namespace tlslab {
namespace {

std::vector<MetricFamily> TwoFamilies() {
  MetricFamily rate{"haproxy_process_current_backend_ssl_key_rate",
                    MetricType::kGauge,
                    "Keys per second",
                    {{{}, 300}}};
  MetricFamily failures{"haproxy_server_check_failures_total",
                        MetricType::kCounter,
                        "Failed checks",
                        {{{{"proxy", "tlslab"}, {"server", "127.0.0.1:8443"}}, 2}}};
  return {rate, failures};
}

TEST(MetricsText, EscapesLabelValues) {
  EXPECT_EQ(EscapeLabelValue("plain:443"), "plain:443");
  EXPECT_EQ(EscapeLabelValue("a\"b"), "a\\\"b");
  EXPECT_EQ(EscapeLabelValue("a\\b"), "a\\\\b");
  EXPECT_EQ(EscapeLabelValue("a\nb"), "a\\nb");
  EXPECT_EQ(EscapeLabelValue("[::1]:443"), "[::1]:443");
}

TEST(MetricsText, EscapesHelpPerFormat) {
  EXPECT_EQ(EscapeHelp("a\\b\nc\"d", MetricsFormat::kPrometheusText), "a\\\\b\\nc\"d");
  EXPECT_EQ(EscapeHelp("a\\b\nc\"d", MetricsFormat::kOpenMetrics), "a\\\\b\\nc\\\"d");
}

TEST(MetricsText, PrometheusTextHasHelpTypeAndNoEof) {
  const std::string text = RenderMetrics(TwoFamilies(), MetricsFormat::kPrometheusText);
  EXPECT_EQ(text,
            "# HELP haproxy_process_current_backend_ssl_key_rate Keys per second\n"
            "# TYPE haproxy_process_current_backend_ssl_key_rate gauge\n"
            "haproxy_process_current_backend_ssl_key_rate 300\n"
            "# HELP haproxy_server_check_failures_total Failed checks\n"
            "# TYPE haproxy_server_check_failures_total counter\n"
            "haproxy_server_check_failures_total{proxy=\"tlslab\",server=\"127.0.0.1:8443\"} 2\n");
}

TEST(MetricsText, OpenMetricsNamesCounterFamiliesWithoutTotalAndEndsWithEof) {
  const std::string text = RenderMetrics(TwoFamilies(), MetricsFormat::kOpenMetrics);
  EXPECT_NE(text.find("# TYPE haproxy_server_check_failures counter\n"), std::string::npos);
  EXPECT_NE(text.find("# HELP haproxy_server_check_failures Failed checks\n"), std::string::npos);
  EXPECT_NE(text.find("\nhaproxy_server_check_failures_total{proxy="), std::string::npos);
  EXPECT_NE(text.find("# TYPE haproxy_process_current_backend_ssl_key_rate gauge\n"),
            std::string::npos);
  ASSERT_GE(text.size(), 6u);
  EXPECT_EQ(text.substr(text.size() - 6), "# EOF\n");
  EXPECT_EQ(text.find("# EOF"), text.size() - 6);  // once, at the end
}

TEST(MetricsText, LabelValueWithQuotesRendersEscaped) {
  MetricFamily f{"tlslab_x_total", MetricType::kCounter, "x", {{{{"server", "a\"\n\\"}}, 1}}};
  EXPECT_NE(RenderMetrics({f}, MetricsFormat::kPrometheusText)
                .find("tlslab_x_total{server=\"a\\\"\\n\\\\\"} 1\n"),
            std::string::npos);
}

TEST(MetricsText, Values) {
  EXPECT_EQ(FormatMetricValue(0), "0");
  EXPECT_EQ(FormatMetricValue(300), "300");
  EXPECT_EQ(FormatMetricValue(0.25), "0.25");
  EXPECT_EQ(FormatMetricValue(1e20), "1e+20");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatMetricValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
}

TEST(MetricsText, NegotiatesOpenMetricsOnlyWhenAsked) {
  EXPECT_EQ(NegotiateFormat("application/openmetrics-text;version=1.0.0,text/plain;q=0.5"),
            MetricsFormat::kOpenMetrics);
  EXPECT_EQ(NegotiateFormat("*/*"), MetricsFormat::kPrometheusText);
  EXPECT_EQ(NegotiateFormat(""), MetricsFormat::kPrometheusText);
}

TEST(MetricsRequest, Parses) {
  EXPECT_EQ(ParseMetricsRequest("GET /metrics HTTP/1.1\r\nHost: x").status, 0);  // incomplete
  MetricsRequest ok = ParseMetricsRequest("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.format, MetricsFormat::kPrometheusText);
  MetricsRequest om = ParseMetricsRequest(
      "GET /metrics?x=1 HTTP/1.1\r\nACCEPT: application/openmetrics-text\r\n\r\n");
  EXPECT_EQ(om.status, 200);
  EXPECT_EQ(om.format, MetricsFormat::kOpenMetrics);
  EXPECT_EQ(ParseMetricsRequest("POST /metrics HTTP/1.1\r\n\r\n").status, 405);
  EXPECT_EQ(ParseMetricsRequest("HEAD /metrics HTTP/1.1\r\n\r\n").status, 405);
  EXPECT_EQ(ParseMetricsRequest("GET / HTTP/1.1\r\n\r\n").status, 404);
  EXPECT_EQ(ParseMetricsRequest("garbage\r\n\r\n").status, 400);
  EXPECT_EQ(ParseMetricsRequest(std::string(kMetricsRequestMax, 'a')).status, 431);
}

TEST(MetricsRequest, Replies) {
  MetricsRequest ok{200, MetricsFormat::kOpenMetrics};
  const std::string reply = MetricsReply(ok, "# EOF\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_NE(reply.find("Content-Type: application/openmetrics-text; version=1.0.0"),
            std::string::npos);
  EXPECT_NE(reply.find("Content-Length: 6\r\n"), std::string::npos);
  EXPECT_EQ(reply.substr(reply.size() - 10), "\r\n\r\n# EOF\n");
  EXPECT_NE(MetricsReply({405, {}}, "").find("Allow: GET\r\n"), std::string::npos);
}

TEST(MetricsAddress, LoopbackByDefault) {
  EXPECT_EQ(ParseMetricsAddress("9464").text, "127.0.0.1:9464");
  EXPECT_TRUE(IsLoopback(ParseMetricsAddress("9464")));
  EXPECT_EQ(ParseMetricsAddress("[::1]:9464").port(), 9464);
  EXPECT_FALSE(IsLoopback(ParseMetricsAddress("0.0.0.0:9464")));  // named, so allowed
  for (const char* bad : {"", "0", "65536", "123456", "host", ":", "1.2.3.4:", "x:y"}) {
    EXPECT_THROW(ParseMetricsAddress(bad), UsageError) << bad;
  }
}

// A run's samples, one a second: 10 full handshakes in each of the first 3 seconds, then 4.
std::vector<Sample> Samples() {
  std::vector<Sample> out(1);
  for (uint64_t full : {10, 10, 10, 4}) {
    Sample s = out.back();
    s.t_s += 1;
    s.checker.full_handshakes += full;
    out.push_back(s);
  }
  return out;
}

TEST(LabMetrics, KeyRateMatchesTheFigures) {
  std::vector<Sample> samples = Samples();
  KeyRateTracker tracker;
  std::vector<Sample> growing;
  for (const Sample& s : samples) {
    growing.push_back(s);
    tracker.Update(growing);
  }
  EXPECT_DOUBLE_EQ(tracker.current_per_s(), 4);
  EXPECT_DOUBLE_EQ(tracker.max_per_s(), ComputeFigures(samples, 0).max_key_rate_per_s);
  EXPECT_DOUBLE_EQ(tracker.max_per_s(), 10);
}

TEST(LabMetrics, CheckerAndServerFamilies) {
  MetricsInput in;
  in.now = Samples().back();
  in.checker = true;
  in.key_rate_per_s = 4;
  in.checked = {{"127.0.0.1:1", 5, 2, 1, false}};
  std::string text = RenderMetrics(LabMetricFamilies(in), MetricsFormat::kPrometheusText);
  EXPECT_NE(text.find("haproxy_process_current_backend_ssl_key_rate 4\n"), std::string::npos);
  EXPECT_NE(text.find("haproxy_server_check_failures_total{proxy=\"tlslab\",server=\"127.0.0.1:1\"}"
                      " 2\n"),
            std::string::npos);
  EXPECT_NE(
      text.find("haproxy_server_status{proxy=\"tlslab\",server=\"127.0.0.1:1\",state=\"DOWN\"}"
                " 1\n"),
      std::string::npos);
  EXPECT_NE(text.find("tlslab_checker_full_handshakes_total 34\n"), std::string::npos);
  EXPECT_EQ(text.find("tlslab_server_"), std::string::npos);  // check: no server side

  in.checker = false;
  in.server = true;
  in.backends = {{"127.0.0.1:2", 7}};
  text = RenderMetrics(LabMetricFamilies(in), MetricsFormat::kPrometheusText);
  EXPECT_EQ(text.find("haproxy_"), std::string::npos);  // serve: no checker side
  EXPECT_NE(text.find("tlslab_server_backend_sessions_removed_total{backend=\"127.0.0.1:2\"} 7\n"),
            std::string::npos);
  EXPECT_NE(text.find("tlslab_server_close_kinds_total{kind=\"reset\"} 0\n"), std::string::npos);
}

}  // namespace
}  // namespace tlslab
