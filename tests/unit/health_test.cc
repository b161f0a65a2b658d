// HAProxy's rise/fall health counter (src/checks.c set_server_check_status) and the interval
// that applies in each state (srv_getinter).
#include "clients/health.h"

#include <gtest/gtest.h>

namespace tlslab {
namespace {

// Fails until the backend is fully down (health 0), at most `limit` times; returns how many.
int FailUntilDown(Health& h, int limit = 100) {
  int n = 0;
  while (h.value() > 0 && n < limit) {
    h.OnFailure();
    ++n;
  }
  return n;
}

struct RiseFall {
  int rise;
  int fall;
};
const RiseFall kShapes[] = {{2, 3}, {1, 1}, {1, 5}, {5, 1}, {3, 3}, {10, 7}};

TEST(HealthTest, StartsUpButFallsAtTheFirstFailure) {
  // HAProxy: health = rise at start, "up, but will fall down at first failure".
  for (const RiseFall& s : kShapes) {
    Health h(s.rise, s.fall);
    EXPECT_TRUE(h.up()) << s.rise << "/" << s.fall;
    EXPECT_EQ(h.value(), s.rise);
    EXPECT_TRUE(h.OnFailure()) << "the first failure changes the state";
    EXPECT_FALSE(h.up());
    EXPECT_EQ(h.value(), 0);
  }
}

TEST(HealthTest, FromFullyUpItTakesFallConsecutiveFailures) {
  for (const RiseFall& s : kShapes) {
    Health h(s.rise, s.fall);
    h.OnSuccess();  // from the initial state, one success makes it fully up
    ASSERT_EQ(h.value(), s.rise + s.fall - 1) << s.rise << "/" << s.fall;
    for (int i = 1; i < s.fall; ++i) {
      EXPECT_FALSE(h.OnFailure()) << "failure " << i << " of " << s.fall;
      EXPECT_TRUE(h.up()) << "failure " << i << " of " << s.fall;
    }
    EXPECT_TRUE(h.OnFailure()) << "failure " << s.fall << " takes it down";
    EXPECT_FALSE(h.up());
    EXPECT_EQ(h.value(), 0) << "down means fully down: it must rise again";
  }
}

TEST(HealthTest, ASuccessRestoresTheFullFallBudget) {
  Health h(2, 3);
  h.OnSuccess();
  h.OnFailure();
  h.OnFailure();  // one failure from down
  ASSERT_TRUE(h.up());
  EXPECT_FALSE(h.OnSuccess());
  EXPECT_EQ(h.value(), 4);
  EXPECT_FALSE(h.OnFailure());
  EXPECT_FALSE(h.OnFailure());
  EXPECT_TRUE(h.OnFailure()) << "three failures again after the success";
}

TEST(HealthTest, FromDownItTakesRiseSuccesses) {
  for (const RiseFall& s : kShapes) {
    Health h(s.rise, s.fall);
    FailUntilDown(h);
    ASSERT_FALSE(h.up());
    for (int i = 1; i < s.rise; ++i) {
      EXPECT_FALSE(h.OnSuccess()) << "success " << i << " of " << s.rise;
      EXPECT_FALSE(h.up()) << "success " << i << " of " << s.rise;
    }
    EXPECT_TRUE(h.OnSuccess()) << "success " << s.rise << " brings it up";
    EXPECT_TRUE(h.up());
    EXPECT_EQ(h.value(), s.rise + s.fall - 1) << "up means fully up";
  }
}

// While a backend is down and rising (0 < health < rise), HAProxy 1.5-1.8 ignore a failed
// check (set_server_check_status counts a failure only when health >= rise), so the successes
// already seen still count.
TEST(HealthTest, FailureWhileRisingIsIgnoredAsInHaproxy17) {
  Health h(3, 2);
  FailUntilDown(h);
  h.OnSuccess();
  h.OnSuccess();
  ASSERT_EQ(h.value(), 2);
  EXPECT_FALSE(h.OnFailure());
  EXPECT_EQ(h.value(), 2) << "HAProxy 1.7 leaves health alone while the server is down";
  EXPECT_TRUE(h.OnSuccess()) << "the third success (rise = 3) brings it up";
}

TEST(HealthTest, StaysWithinBounds) {
  Health h(2, 3);
  for (int i = 0; i < 10; ++i) h.OnSuccess();
  EXPECT_EQ(h.value(), 4);
  EXPECT_FALSE(h.OnSuccess()) << "no state change when already fully up";
  for (int i = 0; i < 10; ++i) h.OnFailure();
  EXPECT_EQ(h.value(), 0);
  EXPECT_FALSE(h.OnFailure()) << "no state change when already down";
}

TEST(HealthTest, IntervalFollowsSrvGetinter) {
  CheckerConfig c;
  c.inter = Millis(2000);
  c.fastinter = Millis(500);
  c.downinter = Millis(10000);
  Health h(2, 3);
  EXPECT_EQ(h.Interval(c), Millis(500)) << "initial state (health == rise): in transition";
  h.OnSuccess();
  EXPECT_EQ(h.Interval(c), Millis(2000)) << "fully up: inter";
  h.OnFailure();
  EXPECT_EQ(h.Interval(c), Millis(500)) << "up, going down: fastinter";
  FailUntilDown(h);
  EXPECT_EQ(h.Interval(c), Millis(10000)) << "fully down: downinter";
  h.OnSuccess();
  EXPECT_FALSE(h.up());
  EXPECT_EQ(h.Interval(c), Millis(500)) << "down, going up: fastinter";
}

TEST(HealthTest, IntervalsDefaultToInter) {
  CheckerConfig c;
  c.inter = Millis(3000);
  Health h(2, 3);
  EXPECT_EQ(h.Interval(c), Millis(3000));
  FailUntilDown(h);
  EXPECT_EQ(h.Interval(c), Millis(3000));
}

}  // namespace
}  // namespace tlslab
