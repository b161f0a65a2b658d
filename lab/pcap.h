// --pcap FILE: the connections the lab drives, written as a classic libpcap file that Wireshark
// and tshark open, without root, tcpdump or a capture interface.
//
// The lab sees every byte of every connection: OpenSSL runs over memory BIOs (lab/tls_stream.h)
// and the lab itself moves the bytes to and from the socket, knows when it sent a FIN or an RST
// and when it saw the peer's. So the file is synthesized, not captured: each connection gets a
// three-way handshake, its TLS bytes as segments of at most kMaxSegment bytes in the order the
// lab wrote and read them, and FIN or RST flags, with IPv4 (or IPv6) and TCP headers whose
// sequence numbers, acknowledgements and checksums are those a real capture would show
// (RFC 791 3.1, RFC 793 3.1, RFC 8200 3 and 8.1, RFC 1071). Timestamps are the wall-clock times
// at which the lab handed the bytes over or received them.
//
// What a synthesized file cannot show: retransmissions, window updates, the exact moment the
// kernel acknowledged a segment; and an RST the kernel sends on its own (a close() with unread
// bytes, RFC 1122 4.2.2.13) appears as the FIN the lab asked for.
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace tlslab {

// ---- Header synthesis (pure; unit-tested in tests/unit/pcap_test.cc) ----

// RFC 1071 one's-complement sum of `data`, folded, starting from `sum`; not yet inverted.
uint32_t ChecksumAdd(uint32_t sum, const uint8_t* data, size_t size);
// The final 16-bit Internet checksum of a running sum (RFC 1071: the complement of the fold).
uint16_t ChecksumFinish(uint32_t sum);

// One end of a TCP connection: an IPv4 address (first 4 bytes of addr) or an IPv6 one.
struct TcpEndpoint {
  bool v6 = false;
  std::array<uint8_t, 16> addr{};
  uint16_t port = 0;
};

// TCP header flags (RFC 793 3.1).
enum TcpFlag : uint8_t {
  kTcpFin = 0x01,
  kTcpSyn = 0x02,
  kTcpRst = 0x04,
  kTcpPsh = 0x08,
  kTcpAck = 0x10
};

// One IP packet carrying one TCP segment, headers and checksums filled in. `ip_id` is the IPv4
// identification field (ignored for IPv6).
std::string BuildTcpPacket(const TcpEndpoint& from, const TcpEndpoint& to, uint32_t seq,
                           uint32_t ack, uint8_t flags, std::string_view payload, uint16_t ip_id);

// The largest TCP payload per synthesized segment: one TLS record's worth (RFC 8446 5.1: 2^14
// bytes of plaintext), well under IPv4's 65535-byte total length.
inline constexpr size_t kMaxSegment = 16384;

// ---- The file ----

// One per process, shared by every connection thread. Packets are buffered (at most
// kBufferLimit bytes) and written when the buffer fills, every second (a thread of its own,
// so that a file opened while `serve` waits for checks is never more than a second behind),
// and at the end.
class PcapWriter {
 public:
  // Creates `path` with O_EXCL|O_NOFOLLOW and mode 0600: it holds every handshake (the
  // secrets stay in the --keylog file, but the file is as private as one). Throws UsageError
  // (one line) when the file exists or cannot be created.
  explicit PcapWriter(const std::string& path);
  ~PcapWriter();
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;

  // Appends one packet stamped with the current wall-clock time (taken under the lock, so
  // timestamps never go backwards in the file).
  void Record(std::string_view packet);
  void Flush();

  static constexpr size_t kBufferLimit = 1 << 20;

 private:
  void WriteLocked();

  int fd_ = -1;
  std::string path_;
  std::mutex mutex_;
  std::string buffer_;
  bool failed_ = false;
  bool stopping_ = false;
  std::condition_variable wake_;
  std::thread flusher_;  // last: started once the rest is ready
};

// One connection's TCP state, seen from the lab's side of it. Owned by the connection's
// TlsStream, used by one thread at a time.
class PcapConn {
 public:
  // `we_connected`: the lab is the client (check, probe) or the server (serve). Records the
  // three-way handshake at once.
  PcapConn(PcapWriter& writer, TcpEndpoint local, TcpEndpoint peer, bool we_connected);
  // A connection that ends without an explicit close from the lab ended with its close():
  // a FIN.
  ~PcapConn();
  PcapConn(const PcapConn&) = delete;
  PcapConn& operator=(const PcapConn&) = delete;

  void Sent(std::string_view bytes);      // the socket took these bytes
  void Received(std::string_view bytes);  // the socket gave these bytes
  void OwnClose(bool reset);              // the lab sent a FIN (or an RST)
  void PeerClose(bool reset);             // the lab saw the peer's FIN (EOF) or RST

  // For tests: the next sequence number of each side.
  uint32_t local_next() const { return local_next_; }
  uint32_t peer_next() const { return peer_next_; }

 private:
  void Emit(bool from_local, uint8_t flags, std::string_view payload);
  void Data(bool from_local, std::string_view bytes);

  PcapWriter& writer_;
  TcpEndpoint local_, peer_;
  uint32_t local_next_ = 0, peer_next_ = 0;
  uint16_t local_ip_id_ = 0, peer_ip_id_ = 0;
  size_t unacked_from_peer_ = 0;
  bool local_fin_ = false, peer_fin_ = false, reset_ = false;
};

// A PcapConn for the connected socket `fd` (getsockname/getpeername), or nullptr when
// `writer` is null or the socket has no peer address.
std::unique_ptr<PcapConn> OpenPcapConn(PcapWriter* writer, int fd, bool we_connected);

}  // namespace tlslab
