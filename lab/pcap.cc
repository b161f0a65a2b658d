#include "lab/pcap.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "lab/errors.h"

namespace tlslab {
namespace {

void Put16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}

void Put32(std::string& out, uint32_t v) {
  Put16(out, static_cast<uint16_t>(v >> 16));
  Put16(out, static_cast<uint16_t>(v & 0xffff));
}

// pcap's own headers are in the writer's byte order; the magic number tells readers which
// (https://www.tcpdump.org/manpages/pcap-savefile.5.html).
void PutHost32(std::string& out, uint32_t v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}
void PutHost16(std::string& out, uint16_t v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

const uint8_t* Bytes(const std::string& s, size_t at) {
  return reinterpret_cast<const uint8_t*>(s.data()) + at;
}

void SetChecksum(std::string& packet, size_t at, uint16_t sum) {
  packet[at] = static_cast<char>(sum >> 8);
  packet[at + 1] = static_cast<char>(sum & 0xff);
}

constexpr uint8_t kProtoTcp = 6;
constexpr uint16_t kWindow = 65535;  // no window scaling: the SYNs carry no options
// LINKTYPE_RAW: the packet begins with the IP header, version 4 or 6
// (https://www.tcpdump.org/linktypes.html).
constexpr uint32_t kLinktypeRaw = 101;
constexpr uint32_t kSnapLen = 65535;
constexpr size_t kAckEvery = 32 * 1024;  // a pure ACK after this many unacknowledged bytes

TcpEndpoint FromSockaddr(const sockaddr_storage& ss) {
  TcpEndpoint e;
  if (ss.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(ss);
    e.v6 = true;
    std::memcpy(e.addr.data(), &a.sin6_addr, 16);
    e.port = ntohs(a.sin6_port);
  } else {
    const auto& a = reinterpret_cast<const sockaddr_in&>(ss);
    std::memcpy(e.addr.data(), &a.sin_addr, 4);
    e.port = ntohs(a.sin_port);
  }
  return e;
}

// An initial sequence number per side: fixed per port pair, so two runs of the same
// connection compare easily, and different for the two sides.
uint32_t InitialSeq(uint16_t own_port, uint16_t other_port) {
  return 0x10000000u + static_cast<uint32_t>(own_port) * 65521u + other_port;
}

}  // namespace

uint32_t ChecksumAdd(uint32_t sum, const uint8_t* data, size_t size) {
  size_t i = 0;
  for (; i + 1 < size; i += 2) sum += static_cast<uint32_t>(data[i] << 8 | data[i + 1]);
  if (i < size) sum += static_cast<uint32_t>(data[i] << 8);  // odd byte padded with zero
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum;
}

uint16_t ChecksumFinish(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

std::string BuildTcpPacket(const TcpEndpoint& from, const TcpEndpoint& to, uint32_t seq,
                           uint32_t ack, uint8_t flags, std::string_view payload, uint16_t ip_id) {
  const size_t tcp_len = 20 + payload.size();
  const size_t addr_len = from.v6 ? 16 : 4;
  std::string p;
  p.reserve((from.v6 ? 40 : 20) + tcp_len);
  if (from.v6) {  // RFC 8200 3
    Put32(p, 0x60000000u);
    Put16(p, static_cast<uint16_t>(tcp_len));
    p.push_back(static_cast<char>(kProtoTcp));
    p.push_back(64);  // hop limit
  } else {            // RFC 791 3.1
    p.push_back(0x45);
    p.push_back(0);
    Put16(p, static_cast<uint16_t>(20 + tcp_len));
    Put16(p, ip_id);
    Put16(p, 0x4000);  // don't fragment
    p.push_back(64);   // TTL
    p.push_back(static_cast<char>(kProtoTcp));
    Put16(p, 0);  // checksum, below
  }
  p.append(reinterpret_cast<const char*>(from.addr.data()), addr_len);
  p.append(reinterpret_cast<const char*>(to.addr.data()), addr_len);
  if (!from.v6) SetChecksum(p, 10, ChecksumFinish(ChecksumAdd(0, Bytes(p, 0), 20)));
  const size_t tcp_at = p.size();
  Put16(p, from.port);
  Put16(p, to.port);
  Put32(p, seq);
  Put32(p, (flags & kTcpAck) ? ack : 0);
  p.push_back(0x50);  // data offset: 5 words, no options
  p.push_back(static_cast<char>(flags));
  Put16(p, kWindow);
  Put16(p, 0);  // checksum, below
  Put16(p, 0);  // urgent pointer
  p.append(payload);
  // The pseudo-header: RFC 793 3.1 (IPv4), RFC 8200 8.1 (IPv6). Both sum to the same words:
  // the addresses, the protocol and the TCP length.
  uint32_t sum = ChecksumAdd(0, from.addr.data(), addr_len);
  sum = ChecksumAdd(sum, to.addr.data(), addr_len);
  sum += kProtoTcp;
  sum += static_cast<uint32_t>(tcp_len >> 16) + static_cast<uint32_t>(tcp_len & 0xffff);
  sum = ChecksumAdd(sum, Bytes(p, tcp_at), tcp_len);
  SetChecksum(p, tcp_at + 16, ChecksumFinish(sum));
  return p;
}

// ---- PcapWriter ----

PcapWriter::PcapWriter(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    const int err = errno;
    if (err == EEXIST) {
      throw UsageError("--pcap: '" + path + "' already exists; remove it or name a new file");
    }
    throw UsageError("--pcap: cannot create '" + path + "': " + std::strerror(err));
  }
  // The global header (pcap-savefile(5)): microsecond timestamps, version 2.4.
  PutHost32(buffer_, 0xa1b2c3d4u);
  PutHost16(buffer_, 2);
  PutHost16(buffer_, 4);
  PutHost32(buffer_, 0);  // thiszone
  PutHost32(buffer_, 0);  // sigfigs
  PutHost32(buffer_, kSnapLen);
  PutHost32(buffer_, kLinktypeRaw);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    WriteLocked();
  }
  flusher_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
      wake_.wait_for(lock, std::chrono::seconds(1));
      WriteLocked();
    }
  });
}

PcapWriter::~PcapWriter() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  flusher_.join();
  Flush();
  ::close(fd_);
}

void PcapWriter::Record(std::string_view packet) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (failed_) return;
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now).count();
  PutHost32(buffer_, static_cast<uint32_t>(us / 1000000));
  PutHost32(buffer_, static_cast<uint32_t>(us % 1000000));
  PutHost32(buffer_, static_cast<uint32_t>(packet.size()));
  PutHost32(buffer_, static_cast<uint32_t>(packet.size()));
  buffer_.append(packet);
  if (buffer_.size() >= kBufferLimit) WriteLocked();
}

void PcapWriter::Flush() {
  std::lock_guard<std::mutex> lock(mutex_);
  WriteLocked();
}

void PcapWriter::WriteLocked() {
  size_t done = 0;
  while (!failed_ && done < buffer_.size()) {
    const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      // A full disk must not stop the lab or grow the buffer: say so once, record no more.
      std::fprintf(stderr, "tlslab: --pcap: writing '%s' failed: %s; recording stopped\n",
                   path_.c_str(), std::strerror(errno));
      failed_ = true;
    }
  }
  buffer_.clear();
}

// ---- PcapConn ----

PcapConn::PcapConn(PcapWriter& writer, TcpEndpoint local, TcpEndpoint peer, bool we_connected)
    : writer_(writer), local_(local), peer_(peer) {
  local_next_ = InitialSeq(local_.port, peer_.port);
  peer_next_ = InitialSeq(peer_.port, local_.port);
  // The three-way handshake (RFC 793 3.4): each SYN takes one sequence number.
  const bool client = we_connected;
  Emit(client, kTcpSyn, {});
  (client ? local_next_ : peer_next_) += 1;
  Emit(!client, kTcpSyn | kTcpAck, {});
  (client ? peer_next_ : local_next_) += 1;
  Emit(client, kTcpAck, {});
}

PcapConn::~PcapConn() { OwnClose(false); }

void PcapConn::Emit(bool from_local, uint8_t flags, std::string_view payload) {
  // Every segment but the first SYN acknowledges all the other side sent: the lab only
  // records bytes that have crossed the socket, so the other side has them.
  const uint32_t seq = from_local ? local_next_ : peer_next_;
  const uint32_t ack = from_local ? peer_next_ : local_next_;
  const std::string packet =
      from_local ? BuildTcpPacket(local_, peer_, seq, ack, flags, payload, local_ip_id_++)
                 : BuildTcpPacket(peer_, local_, seq, ack, flags, payload, peer_ip_id_++);
  writer_.Record(packet);
}

void PcapConn::Data(bool from_local, std::string_view bytes) {
  if (reset_ || (from_local ? local_fin_ : peer_fin_)) return;
  while (!bytes.empty()) {
    const std::string_view segment = bytes.substr(0, kMaxSegment);
    Emit(from_local, kTcpAck | kTcpPsh, segment);
    (from_local ? local_next_ : peer_next_) += static_cast<uint32_t>(segment.size());
    bytes.remove_prefix(segment.size());
  }
}

void PcapConn::Sent(std::string_view bytes) {
  Data(true, bytes);
  unacked_from_peer_ = 0;  // our segments carried the acknowledgement
}

void PcapConn::Received(std::string_view bytes) {
  Data(false, bytes);
  unacked_from_peer_ += bytes.size();
  // A peer that sends much without hearing from us would seem to overrun its window.
  if (unacked_from_peer_ >= kAckEvery && !reset_) {
    Emit(true, kTcpAck, {});
    unacked_from_peer_ = 0;
  }
}

void PcapConn::OwnClose(bool reset) {
  if (reset_ || (local_fin_ && !reset)) return;
  if (reset) {
    Emit(true, kTcpRst | kTcpAck, {});
    reset_ = true;
    return;
  }
  Emit(true, kTcpFin | kTcpAck, {});
  local_next_ += 1;  // a FIN takes one sequence number
  local_fin_ = true;
}

void PcapConn::PeerClose(bool reset) {
  if (reset_ || (peer_fin_ && !reset)) return;
  if (reset) {
    Emit(false, kTcpRst | kTcpAck, {});
    reset_ = true;
    return;
  }
  Emit(false, kTcpFin | kTcpAck, {});
  peer_next_ += 1;
  peer_fin_ = true;
}

std::unique_ptr<PcapConn> OpenPcapConn(PcapWriter* writer, int fd, bool we_connected) {
  if (writer == nullptr) return nullptr;
  sockaddr_storage local{}, peer{};
  socklen_t local_len = sizeof local, peer_len = sizeof peer;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0 ||
      getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0 ||
      local.ss_family != peer.ss_family) {
    return nullptr;
  }
  return std::make_unique<PcapConn>(*writer, FromSockaddr(local), FromSockaddr(peer), we_connected);
}

}  // namespace tlslab
