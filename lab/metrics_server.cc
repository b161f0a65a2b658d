#include "lab/metrics_server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "lab/errors.h"
#include "lab/text.h"

namespace tlslab {

Endpoint ParseMetricsAddress(std::string_view text) {
  const std::string want = "--metrics: '" + Printable(text.substr(0, 64)) +
                           "' is not PORT or ADDR:PORT (e.g. 9464 or 127.0.0.1:9464)";
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos) {
    // A port alone means loopback: the figures name the lab's backends, and other machines
    // reach them only where the user names a routable address.
    const int port = text.size() <= 5 ? std::stoi(std::string(text)) : 0;
    if (port < 1 || port > 65535) throw UsageError(want);
    return MakeEndpoint("127.0.0.1", port);
  }
  try {
    return ParseHostPort(text);
  } catch (const UsageError&) {
    throw UsageError(want);
  }
}

namespace {

// Case-insensitive ASCII prefix test, for header names (RFC 9110 section 5.1).
bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char a = s[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
    if (a != prefix[i]) return false;
  }
  return true;
}

std::string_view Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 431:
      return "Request Header Fields Too Large";
    default:
      return "Error";
  }
}

}  // namespace

MetricsRequest ParseMetricsRequest(std::string_view received) {
  MetricsRequest r;
  const size_t end = received.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (received.size() >= kMetricsRequestMax) r.status = 431;
    return r;
  }
  const std::string_view head = received.substr(0, end);
  const size_t eol = head.find("\r\n");
  const std::string_view line = head.substr(0, eol);
  // request-line = method SP request-target SP HTTP-version (RFC 9112 section 3)
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || !line.substr(sp2 + 1).starts_with("HTTP/1.")) {
    r.status = 400;
    return r;
  }
  const std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  target = target.substr(0, target.find('?'));  // a query string changes nothing here
  if (method != "GET") {
    r.status = 405;
    return r;
  }
  if (target != "/metrics") {
    r.status = 404;
    return r;
  }
  r.status = 200;
  r.format = MetricsFormat::kPrometheusText;
  std::string_view rest = eol == std::string_view::npos ? "" : head.substr(eol + 2);
  while (!rest.empty()) {
    const size_t next = rest.find("\r\n");
    const std::string_view field = rest.substr(0, next);
    if (StartsWithNoCase(field, "accept:")) r.format = NegotiateFormat(field.substr(7));
    rest = next == std::string_view::npos ? "" : rest.substr(next + 2);
  }
  return r;
}

std::string MetricsReply(const MetricsRequest& request, std::string_view body) {
  std::string out = "HTTP/1.1 " + std::to_string(request.status) + " ";
  out.append(Reason(request.status)).append("\r\n");
  std::string_view content;
  std::string text;
  if (request.status == 200) {
    out.append("Content-Type: ").append(ContentType(request.format)).append("\r\n");
    content = body;
  } else {
    text = std::string(Reason(request.status)) + "; this tlslab endpoint serves GET /metrics\n";
    content = text;
    out.append("Content-Type: text/plain; charset=utf-8\r\n");
    if (request.status == 405) out.append("Allow: GET\r\n");
  }
  out.append("Content-Length: ").append(std::to_string(content.size())).append("\r\n");
  out.append("Cache-Control: no-cache\r\nConnection: close\r\n\r\n").append(content);
  return out;
}

std::unique_ptr<MetricsServer> StartMetricsServer(const std::string& value, MetricsSource source) {
  if (value.empty()) return nullptr;
  const Endpoint at = ParseMetricsAddress(value);
  auto server = std::make_unique<MetricsServer>(at, std::move(source));
  if (!IsLoopback(at)) {
    std::fprintf(stderr,
                 "tlslab: warning: --metrics listens on %s, not a loopback address: other "
                 "machines can read the figures\n",
                 at.text.c_str());
  }
  return server;
}

MetricsServer::MetricsServer(const Endpoint& at, MetricsSource source)
    : source_(std::move(source)) {
  try {
    listen_fd_ = Listen(at, 64);
  } catch (const RuntimeError& e) {
    // Before the run starts, one line: "--metrics: cannot listen on 127.0.0.1:9464: Address
    // already in use".
    throw UsageError(std::string("--metrics: ") + e.what());
  }
  port_ = LocalPort(listen_fd_);
  stop_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (stop_fd_ < 0) {
    close(listen_fd_);
    throw RuntimeError(std::string("eventfd: ") + std::strerror(errno));
  }
  thread_ = std::thread([this] { Serve(); });
}

MetricsServer::~MetricsServer() {
  const uint64_t one = 1;
  ssize_t ignored = write(stop_fd_, &one, sizeof one);
  (void)ignored;
  thread_.join();
  for (Client& c : clients_) {
    if (c.fd >= 0) close(c.fd);
  }
  close(stop_fd_);
  close(listen_fd_);
}

void MetricsServer::Publish(std::vector<MetricFamily> families) {
  std::lock_guard lock(mu_);
  families_ = std::move(families);
}

std::string MetricsServer::Render(MetricsFormat format) {
  if (source_) return RenderMetrics(source_(), format);
  std::lock_guard lock(mu_);
  return RenderMetrics(families_, format);
}

void MetricsServer::Accept(Clock::time_point now) {
  // A few per wake, so that a flood of connects cannot keep this thread from its clients.
  for (int k = 0; k < 4; ++k) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    if (clients_.size() >= kMetricsMaxClients) {  // the oldest, the likeliest silent
      close(clients_.front().fd);
      clients_.erase(clients_.begin());
    }
    clients_.push_back({fd, now + kMetricsClientTime, {}, {}, false});
  }
}

void MetricsServer::OnClient(Client& c, short revents) {
  if (c.sent) {
    // Lingering close (RFC 9112 section 9.6): what the client still sends is read and dropped
    // until it closes (or its time is over), so that our close cannot turn into an RST that
    // destroys the reply before the client has read it.
    char buf[1024];
    const ssize_t n = recv(c.fd, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      close(c.fd);
      c.fd = -1;
    }
    return;
  }
  if (!c.replied) {
    char buf[1024];
    const ssize_t n = recv(c.fd, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      close(c.fd);  // gone before its request was whole: nobody to answer
      c.fd = -1;
      return;
    }
    if (n > 0) c.in.append(buf, std::min(static_cast<size_t>(n), kMetricsRequestMax - c.in.size()));
    const MetricsRequest request = ParseMetricsRequest(c.in);
    if (request.status == 0) return;
    c.out = MetricsReply(request, request.status == 200 ? Render(request.format) : "");
    c.replied = true;
  } else if ((revents & (POLLOUT | POLLERR | POLLHUP)) == 0) {
    return;
  }
  const ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n > 0) c.out.erase(0, static_cast<size_t>(n));
  if (n < 0 && errno != EAGAIN && errno != EINTR) {
    close(c.fd);
    c.fd = -1;
  } else if (c.out.empty()) {
    shutdown(c.fd, SHUT_WR);  // the reply ends here (FIN); then the lingering close above
    c.sent = true;
  }
}

void MetricsServer::Serve() {
  std::vector<pollfd> fds;
  for (;;) {
    const Clock::time_point now = Clock::now();
    // Out of time: a client that has not sent its request, taken its reply or closed after it
    // is dropped.
    for (Client& c : clients_) {
      if (now >= c.deadline) {
        close(c.fd);
        c.fd = -1;
      }
    }
    std::erase_if(clients_, [](const Client& c) { return c.fd < 0; });
    fds.assign({pollfd{stop_fd_, POLLIN, 0}, pollfd{listen_fd_, POLLIN, 0}});
    for (const Client& c : clients_) {
      const bool sending = c.replied && !c.sent;
      fds.push_back({c.fd, static_cast<short>(sending ? POLLOUT : POLLIN), 0});
    }
    // Wake at least every 100 ms to expire clients.
    if (poll(fds.data(), fds.size(), 100) < 0 && errno != EINTR) return;
    if (fds[0].revents & POLLIN) return;
    const size_t known = clients_.size();
    for (size_t i = 0; i < known; ++i) {
      if (fds[2 + i].revents != 0) OnClient(clients_[i], fds[2 + i].revents);
    }
    std::erase_if(clients_, [](const Client& c) { return c.fd < 0; });
    if (fds[1].revents & POLLIN) Accept(Clock::now());
  }
}

}  // namespace tlslab
