// Durations as HAProxy configurations write them: "2s", "500ms", "1m", bare milliseconds.
#include "lab/duration.h"

#include <gtest/gtest.h>

namespace tlslab {
namespace {

struct Accepted {
  std::string_view text;
  long long ms;
  std::string_view reason;
};

TEST(ParseDurationTest, AcceptsHaproxySpellings) {
  const Accepted rows[] = {
      {"2s", 2000, "seconds"},
      {"500ms", 500, "milliseconds"},
      {"1m", 60000, "minutes"},
      {"1h", 3600000, "hours"},
      {"2000", 2000, "a bare number is milliseconds, as HAProxy's `inter 2000`"},
      {"0", 0, "zero is a duration (serve: run until a signal)"},
      {"0s", 0, "zero with a unit"},
  };
  for (const Accepted& row : rows) {
    const std::optional<Millis> d = ParseDuration(row.text);
    ASSERT_TRUE(d.has_value()) << "'" << row.text << "': " << row.reason;
    EXPECT_EQ(d->count(), row.ms) << "'" << row.text << "': " << row.reason;
  }
}

struct Rejected {
  std::string_view text;
  std::string_view reason;
};

TEST(ParseDurationTest, RejectsWhatIsNotADuration) {
  const Rejected rows[] = {
      {"", "empty"},
      {"-1s", "negative"},
      {"2x", "unknown unit"},
      {"s", "a unit without a number"},
      {"ms", "a unit without a number"},
      {"1.5s", "fractions are not HAProxy syntax"},
      {" 2s", "leading space"},
      {"2s ", "trailing space"},
      {"2 s", "space before the unit"},
      {"2S", "units are lower case"},
      {"2sms", "two units"},
      {"99999999999999999999", "does not fit in 64 bits"},
      {"9223372036854775807h", "overflows when scaled to milliseconds"},
  };
  for (const Rejected& row : rows) {
    EXPECT_FALSE(ParseDuration(row.text).has_value()) << "'" << row.text << "': " << row.reason;
  }
}

struct Spelling {
  long long ms;
  std::string_view text;
};

TEST(FormatDurationTest, ShortestExactSpelling) {
  const Spelling rows[] = {
      {0, "0ms"},   {1, "1ms"},    {999, "999ms"}, {1000, "1s"},   {1500, "1500ms"},
      {2000, "2s"}, {60000, "1m"}, {61000, "61s"}, {90000, "90s"}, {120000, "2m"},
  };
  for (const Spelling& row : rows) {
    EXPECT_EQ(FormatDuration(Millis(row.ms)), row.text) << row.ms << " ms";
  }
}

TEST(FormatDurationTest, RoundTripsThroughParseDuration) {
  const long long values[] = {0,     1,     10,    999,     1000,     1001,     1500,
                              59999, 60000, 61000, 3600000, 86400000, 123456789};
  for (long long ms : values) {
    const std::string text = FormatDuration(Millis(ms));
    const std::optional<Millis> back = ParseDuration(text);
    ASSERT_TRUE(back.has_value()) << ms << " ms printed as '" << text << "'";
    EXPECT_EQ(back->count(), ms) << "'" << text << "'";
  }
}

}  // namespace
}  // namespace tlslab
