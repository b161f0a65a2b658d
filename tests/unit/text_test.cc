// lab/text.h: what user text may reach JSON and error lines, and the
// stats command parser (lab/monitor.h StatsReply).
#include "lab/text.h"

#include <gtest/gtest.h>

#include "lab/errors.h"
#include "lab/monitor.h"

namespace tlslab {
namespace {

TEST(Text, Utf8AcceptsWellFormedAndRejectsTheRest) {
  EXPECT_TRUE(IsUtf8(""));
  EXPECT_TRUE(IsUtf8("backend.example"));
  EXPECT_TRUE(IsUtf8("gr\xC3\xBC\xC3\x9F"));  // grüß
  EXPECT_TRUE(IsUtf8("\xF0\x9F\x94\x92"));    // U+1F512
  EXPECT_FALSE(IsUtf8("\xFF"));               // never in UTF-8
  EXPECT_FALSE(IsUtf8("\xC3("));              // bad continuation
  EXPECT_FALSE(IsUtf8("\xC0\xAF"));           // overlong '/'
  EXPECT_FALSE(IsUtf8("\xED\xA0\x80"));       // a surrogate
  EXPECT_FALSE(IsUtf8("\xF4\x90\x80\x80"));   // beyond U+10FFFF
  EXPECT_FALSE(IsUtf8("\xE2\x82"));           // truncated
}

TEST(Text, PrintableEscapesControlsAndInvalidBytesOnly) {
  EXPECT_EQ(Printable("plain text"), "plain text");
  EXPECT_EQ(Printable("a\xFF"
                      "b"),
            "a\\xFFb");
  EXPECT_EQ(Printable(std::string("nul\0here", 8)), "nul\\x00here");
  EXPECT_EQ(Printable("\x1B[2J"), "\\x1B[2J");
  EXPECT_EQ(Printable("gr\xC3\xBC\xC3\x9F"), "gr\xC3\xBC\xC3\x9F");
  EXPECT_TRUE(IsUtf8(Printable("\xC3(\xF4\x90\x80\x80")));
}

TEST(Text, RequireTextNamesTheFieldWithoutTheBytes) {
  try {
    RequireText("sni", "a\xFF");
    FAIL() << "accepted";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()), "sni: not valid UTF-8 text");
  }
  EXPECT_THROW(RequireText("target", std::string("127.0.0.1:9\0x", 13)), UsageError);
  EXPECT_NO_THROW(RequireText("target", "127.0.0.1:9"));
}

TEST(Text, SniIsADnsHostName) {
  EXPECT_TRUE(IsSniHostName(""));  // no SNI
  EXPECT_TRUE(IsSniHostName("backend-1.example.com"));
  EXPECT_TRUE(IsSniHostName("localhost"));
  EXPECT_FALSE(IsSniHostName("10.0.0.1"));  // RFC 6066 section 3: no IP literals
  EXPECT_FALSE(IsSniHostName("::1"));
  EXPECT_FALSE(IsSniHostName("-a.example"));
  EXPECT_FALSE(IsSniHostName("a-.example"));
  EXPECT_FALSE(IsSniHostName("a..example"));
  EXPECT_FALSE(IsSniHostName("example.com."));
  EXPECT_FALSE(IsSniHostName("with space.example"));
  EXPECT_FALSE(IsSniHostName(std::string(64, 'a') + ".example"));
}

TEST(Text, HttpPathIsOriginFormVisibleAscii) {
  EXPECT_TRUE(IsHttpPath("/"));
  EXPECT_TRUE(IsHttpPath("/health?full=1&x=%20"));
  EXPECT_FALSE(IsHttpPath(""));
  EXPECT_FALSE(IsHttpPath("health"));
  EXPECT_FALSE(IsHttpPath("/a b"));
  EXPECT_FALSE(IsHttpPath("/\r\nX-Injected: 1"));
  EXPECT_FALSE(IsHttpPath(std::string("/\0", 2)));
  EXPECT_FALSE(IsHttpPath("/gr\xC3\xBC\xC3\x9F"));
}

TEST(StatsReply, WaitsForALineThenAnswers) {
  auto info = [] { return InfoLines{{"Name", "tlslab"}}; };
  EXPECT_FALSE(StatsReply("show in", false, info));
  EXPECT_EQ(*StatsReply("show info\r\n", false, info), "Name: tlslab\n\n");
  EXPECT_EQ(*StatsReply("show info", true, info), "Name: tlslab\n\n");  // peer closed its side
  EXPECT_NE(StatsReply("help\n", false, info)->find("Unknown command"), std::string::npos);
  // A full buffer without a newline is answered, not waited on.
  EXPECT_TRUE(StatsReply(std::string(kStatsCommandMax, 'x'), false, info));
}

}  // namespace
}  // namespace tlslab
