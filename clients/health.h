// A backend's health as HAProxy tracks it (src/checks.c, set_server_check_status): a counter
// from 0 to rise+fall-1; the backend is up while it is at least `rise`. A server starts up
// (health = rise, "up, but will fall down at first failure"). Which interval applies follows
// HAProxy's srv_getinter(): downinter when fully down, fastinter while in transition, inter
// when fully up.
#pragma once

#include "lab/config.h"

namespace tlslab {

class Health {
 public:
  Health(int rise, int fall) : rise_(rise), fall_(fall), health_(rise) {}

  // Returns true when the up/down state changed.
  bool OnSuccess() {
    const bool was_up = up();
    if (health_ < rise_ + fall_ - 1) ++health_;
    if (health_ >= rise_) health_ = rise_ + fall_ - 1;
    return up() != was_up;
  }
  bool OnFailure() {
    // HAProxy 1.5-1.8 count a failure only while the server is up (health >= rise): a
    // failure while rising leaves the successes already seen in place.
    if (!up()) return false;
    if (--health_ < rise_) health_ = 0;  // fell: down at once, must rise again
    return !up();
  }

  bool up() const { return health_ >= rise_; }
  int value() const { return health_; }

  Millis Interval(const CheckerConfig& c) const {
    if (health_ == 0) return EffectiveDowninter(c);
    if (health_ == rise_ + fall_ - 1) return c.inter;
    return EffectiveFastinter(c);
  }

 private:
  int rise_;
  int fall_;
  int health_;
};

}  // namespace tlslab
