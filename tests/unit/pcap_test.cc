// --pcap's header synthesis (lab/pcap.h): checksums a receiver would accept, sequence and
// acknowledgement numbers that follow the bytes, segments no larger than kMaxSegment, and a
// file that refuses to overwrite. tshark reads whole files in tests/e2e/test_pcap.py.
#include "lab/pcap.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "lab/errors.h"

namespace tlslab {
namespace {

uint32_t Get16(const std::string& p, size_t at) {
  return static_cast<uint32_t>(static_cast<uint8_t>(p[at]) << 8 | static_cast<uint8_t>(p[at + 1]));
}
uint32_t Get32(const std::string& p, size_t at) { return Get16(p, at) << 16 | Get16(p, at + 2); }
const uint8_t* U8(const std::string& p) { return reinterpret_cast<const uint8_t*>(p.data()); }

TcpEndpoint V4(uint8_t last, uint16_t port) {
  TcpEndpoint e;
  e.addr = {127, 0, 0, last};
  e.port = port;
  return e;
}

TcpEndpoint V6Loopback(uint16_t port) {
  TcpEndpoint e;
  e.v6 = true;
  e.addr[15] = 1;
  e.port = port;
  return e;
}

// A receiver's check: the one's-complement sum over the TCP segment and its pseudo-header,
// checksum field included, is 0xffff (RFC 1071 1, RFC 793 3.1).
uint16_t VerifyTcp(const std::string& p, size_t ip_len, size_t addr_at, size_t addr_len) {
  const size_t tcp_len = p.size() - ip_len;
  uint32_t sum = ChecksumAdd(0, U8(p) + addr_at, 2 * addr_len);
  sum += 6 + static_cast<uint32_t>(tcp_len);
  return ChecksumFinish(ChecksumAdd(sum, U8(p) + ip_len, tcp_len));
}

TEST(ChecksumTest, Rfc1071Example) {
  // RFC 1071 3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (after the end-around carry).
  const uint8_t words[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(ChecksumAdd(0, words, sizeof words), 0xddf2u);
  EXPECT_EQ(ChecksumFinish(ChecksumAdd(0, words, sizeof words)), 0x220du);
  // An odd length is padded with a zero byte.
  const uint8_t odd[] = {0x01, 0x02, 0x03};
  EXPECT_EQ(ChecksumAdd(0, odd, sizeof odd), 0x0402u);
}

TEST(BuildTcpPacketTest, Ipv4HeadersAndChecksumsVerify) {
  const std::string payload = "hello, odd-length payload";  // 25 bytes
  const std::string p =
      BuildTcpPacket(V4(1, 40000), V4(2, 443), 1000, 2000, kTcpAck | kTcpPsh, payload, 7);
  ASSERT_EQ(p.size(), 20 + 20 + payload.size());
  EXPECT_EQ(static_cast<uint8_t>(p[0]), 0x45);
  EXPECT_EQ(Get16(p, 2), p.size());  // total length
  EXPECT_EQ(Get16(p, 4), 7u);        // identification
  EXPECT_EQ(static_cast<uint8_t>(p[9]), 6);
  EXPECT_EQ(ChecksumFinish(ChecksumAdd(0, U8(p), 20)), 0) << "IPv4 header checksum";
  EXPECT_EQ(VerifyTcp(p, 20, 12, 4), 0) << "TCP checksum";
  EXPECT_EQ(Get16(p, 20), 40000u);
  EXPECT_EQ(Get16(p, 22), 443u);
  EXPECT_EQ(Get32(p, 24), 1000u);
  EXPECT_EQ(Get32(p, 28), 2000u);
  EXPECT_EQ(static_cast<uint8_t>(p[33]), kTcpAck | kTcpPsh);
  EXPECT_EQ(p.substr(40), payload);
  // Flip one payload bit: the checksum must catch it (the test can fail).
  std::string bad = p;
  bad[45] ^= 0x01;
  EXPECT_NE(VerifyTcp(bad, 20, 12, 4), 0);
}

TEST(BuildTcpPacketTest, SynCarriesNoAcknowledgement) {
  const std::string p = BuildTcpPacket(V4(1, 1), V4(1, 2), 5, 99, kTcpSyn, {}, 0);
  EXPECT_EQ(Get32(p, 28), 0u) << "the ACK field is zero when the ACK flag is off";
}

TEST(BuildTcpPacketTest, Ipv6HeaderAndChecksumVerify) {
  const std::string p =
      BuildTcpPacket(V6Loopback(5555), V6Loopback(443), 1, 2, kTcpAck | kTcpFin, "x", 0);
  ASSERT_EQ(p.size(), 40 + 20 + 1u);
  EXPECT_EQ(static_cast<uint8_t>(p[0]) >> 4, 6);
  EXPECT_EQ(Get16(p, 4), 21u);  // payload length: TCP header and data
  EXPECT_EQ(static_cast<uint8_t>(p[6]), 6);
  EXPECT_EQ(VerifyTcp(p, 40, 8, 16), 0);
}

// The packets of a pcap file written by PcapWriter.
std::vector<std::string> ReadPackets(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> packets;
  EXPECT_GE(all.size(), 24u);
  uint32_t magic = 0;
  std::memcpy(&magic, all.data(), 4);
  EXPECT_EQ(magic, 0xa1b2c3d4u);
  for (size_t at = 24; at + 16 <= all.size();) {
    uint32_t len = 0;
    std::memcpy(&len, all.data() + at + 8, 4);
    packets.push_back(all.substr(at + 16, len));
    at += 16 + len;
  }
  return packets;
}

class PcapFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/tlslab-pcap-test-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/out.pcap";
  }
  void TearDown() override {
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  std::string dir_, path_;
};

TEST_F(PcapFileTest, SequenceNumbersFollowTheBytes) {
  {
    PcapWriter writer(path_);
    PcapConn conn(writer, V4(1, 40000), V4(1, 443), /*we_connected=*/true);
    const uint32_t isn_local = conn.local_next() - 1;
    const uint32_t isn_peer = conn.peer_next() - 1;
    conn.Sent(std::string(20000, 'a'));  // two segments: 16384 + 3616
    conn.Received(std::string(300, 'b'));
    conn.PeerClose(false);
    EXPECT_EQ(conn.local_next(), isn_local + 1 + 20000);
    EXPECT_EQ(conn.peer_next(), isn_peer + 1 + 300 + 1);
  }  // the destructor records our FIN; the writer's flushes the file
  const std::vector<std::string> p = ReadPackets(path_);
  ASSERT_EQ(p.size(), 3u + 2 + 1 + 1 + 1);
  const uint32_t c = Get32(p[0], 24), s = Get32(p[1], 24);
  EXPECT_EQ(static_cast<uint8_t>(p[0][33]), kTcpSyn);
  EXPECT_EQ(static_cast<uint8_t>(p[1][33]), kTcpSyn | kTcpAck);
  EXPECT_EQ(Get32(p[1], 28), c + 1);
  EXPECT_EQ(Get32(p[2], 24), c + 1);
  EXPECT_EQ(Get32(p[2], 28), s + 1);
  EXPECT_EQ(p[3].size() - 40, kMaxSegment);
  EXPECT_EQ(Get32(p[3], 24), c + 1);
  EXPECT_EQ(Get32(p[4], 24), c + 1 + kMaxSegment);
  EXPECT_EQ(p[4].size() - 40, 20000 - kMaxSegment);
  EXPECT_EQ(Get32(p[5], 24), s + 1);          // the peer's data
  EXPECT_EQ(Get32(p[5], 28), c + 1 + 20000);  // acknowledges all we sent
  EXPECT_EQ(static_cast<uint8_t>(p[6][33]), kTcpFin | kTcpAck);
  EXPECT_EQ(Get32(p[6], 24), s + 1 + 300);
  EXPECT_EQ(static_cast<uint8_t>(p[7][33]), kTcpFin | kTcpAck);  // ours, at the end
  EXPECT_EQ(Get32(p[7], 24), c + 1 + 20000);
  EXPECT_EQ(Get32(p[7], 28), s + 1 + 300 + 1);  // the peer's FIN took one number
  for (const std::string& packet : p) {
    EXPECT_EQ(ChecksumFinish(ChecksumAdd(0, U8(packet), 20)), 0);
    EXPECT_EQ(VerifyTcp(packet, 20, 12, 4), 0);
  }
}

TEST_F(PcapFileTest, NothingAfterAReset) {
  {
    PcapWriter writer(path_);
    PcapConn conn(writer, V4(1, 1000), V4(1, 443), /*we_connected=*/false);
    conn.OwnClose(true);
    conn.Sent("late");
    conn.PeerClose(false);
  }
  const std::vector<std::string> p = ReadPackets(path_);
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(Get16(p[0], 20), 443u) << "the peer connected: its SYN comes first";
  EXPECT_EQ(static_cast<uint8_t>(p[3][33]), kTcpRst | kTcpAck);
}

TEST_F(PcapFileTest, WrittenWithinSecondsWhileTheWriterLives) {
  PcapWriter writer(path_);
  writer.Record(BuildTcpPacket(V4(1, 1), V4(1, 2), 1, 0, kTcpSyn, {}, 0));
  // A file opened while `serve` idles must show what happened: the flusher writes each
  // second. Bounded wait: 5 s.
  struct stat st {};
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(stat(path_.c_str(), &st), 0);
    if (st.st_size > 24) break;
    usleep(100 * 1000);
  }
  EXPECT_EQ(st.st_size, 24 + 16 + 40) << "global header, record header, one SYN";
}

TEST_F(PcapFileTest, PrivateNewFileOnly) {
  { PcapWriter writer(path_); }
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_THROW(PcapWriter again(path_), UsageError) << "an existing file is refused";
  const std::string link = dir_ + "/link.pcap";
  ASSERT_EQ(symlink("/nonexistent-target", link.c_str()), 0);
  EXPECT_THROW(PcapWriter via_link(link), UsageError) << "a symbolic link is refused";
  unlink(link.c_str());
}

}  // namespace
}  // namespace tlslab
