#include "sim/streams.h"

#include <algorithm>
#include <chrono>

namespace tlslab::sim {
namespace {

void Restart(Stream& st, Slot* slots, int count) {
  for (int i = 0; i < count; ++i) slots[i].server_valid = false;
  st.conn_open = false;
}

}  // namespace

CheckDone StepOne(const Model& md, int b, int lb, Stream& st, Slot* slots, SimSeries* series,
                  Tally& tally, Queues* q) {
  const int64_t t = st.due;
  const int health_before = st.health.value();
  while (st.next_restart <= t) {
    Restart(st, slots, md.slots);
    st.down_until = st.next_restart + md.downtime;
    st.next_restart += static_cast<int64_t>(md.groups) * md.restart_every;
  }
  const bool refused = t < st.down_until;
  // A check whose thread is still busy at its deadline never starts: it times out having cost
  // nothing and changed no session (HAProxy's check task expires before it connects).
  const bool abandoned =
      q != nullptr && !refused &&
      q->thread_free[static_cast<size_t>(lb * md.threads + md.ThreadOf(b, st.k))] - t >= md.timeout;
  Slot& slot = slots[md.SlotOf(b, st.k)];
  const bool had_session = slot.client_has;
  const int kind = (refused || abandoned) ? kConnectFailed : md.Outcome(slot, st.conn_open, t);
  double cc = abandoned ? 0.0 : md.CheckerCost(kind), sc = abandoned ? 0.0 : md.ServerCost(kind);
  int64_t completion = t + static_cast<int64_t>(cc + sc);
  int64_t started = t;
  if (abandoned) {
    completion = t + md.timeout + 1;  // past the deadline: counted as a timeout below
  } else if (q != nullptr) {
    cc *= q->Jitter();
    sc *= q->Jitter();
    int64_t& thread = q->thread_free[static_cast<size_t>(lb * md.threads + md.ThreadOf(b, st.k))];
    const int64_t start = std::max(t, thread);
    started = start;
    thread = start + static_cast<int64_t>(cc * q->checker_stretch);
    completion = thread;
    if (!refused && !q->core_free.empty()) {
      size_t first = 0, count = q->core_free.size();
      if (q->cores_per_backend > 0) {
        first = static_cast<size_t>(b) * static_cast<size_t>(q->cores_per_backend);
        count = static_cast<size_t>(q->cores_per_backend);
      }
      size_t best = first;
      for (size_t i = first; i < first + count; ++i) {
        if (q->core_free[i] < q->core_free[best]) best = i;
      }
      const int64_t s_start = std::max(completion, q->core_free[best]);
      q->core_free[best] = s_start + static_cast<int64_t>(sc * q->server_stretch);
      completion = q->core_free[best];
    }
  }
  if (!abandoned) completion += md.NetworkUs(kind);  // the network waits, no thread is busy
  bool ok = !refused;
  if (refused) ++tally.failures[static_cast<size_t>(CheckFailure::kConnect)];
  if (ok && completion - t > md.timeout) {
    ok = false;
    completion = t + md.timeout;
    ++tally.failures[static_cast<size_t>(CheckFailure::kTimeout)];
  }
  if (series != nullptr && t < md.end) series->Point(t, kind, cc, sc, !ok);
  if (st.k == 0) {
    tally.first_round_latency.Record(static_cast<uint64_t>(completion - t));
    tally.first_round_end = std::max(tally.first_round_end, completion);
  } else {
    tally.latency.Record(static_cast<uint64_t>(completion - t));
  }
  ++st.k;
  if (ok) {
    st.health.OnSuccess();
  } else {
    st.health.OnFailure();
  }
  // clients/check_actor.cc ScheduleNext: slots passed are skipped and counted; a late check's
  // next is due one interval after it ends (HAProxy's rule), an on-time one keeps the rate.
  const int64_t interval =
      std::chrono::duration_cast<std::chrono::microseconds>(st.health.Interval(md.config.checker))
          .count();
  if (completion > st.due)
    tally.skipped_slots += static_cast<uint64_t>((completion - st.due) / interval);
  CheckDone done{kind, cc, sc, !ok, completion - t};
  const bool resumable = md.m.offers && slot.client_has && slot.server_valid;
  const bool steady_kind =
      kind == kResumed || kind == kNoHandshake ||
      ((kind == kFresh || kind == kRefused) && !resumable && had_session == slot.client_has);
  done.repeats = ok && steady_kind && st.k > 1 && health_before == st.health.value() &&
                 started - st.due <= interval / kLateShare && completion < st.due + interval;
  if (started - st.due > interval / kLateShare) {
    st.due = completion + interval;
  } else {
    do {
      st.due += interval;
    } while (st.due <= completion);
  }
  return done;
}

// Closed form for one slot's `count` uses from u0, `gap` apart, with no restart, expiry of
// health or down time among them (sim/engine.h).
namespace {
void BulkSlot(const Model& md, Slot& s, bool& conn_open, int64_t u0, int64_t gap, int64_t count,
              SimSeries& series, Tally& tally) {
  if (count <= 0) return;
  auto point = [&](int64_t u, int kind) {
    series.Point(u, kind, md.CheckerCost(kind), md.ServerCost(kind), false);
    ++tally.latency_count[static_cast<size_t>(kind)];
  };
  auto run = [&](int64_t from, int64_t n, int kind) {
    series.Run(from, gap, n, kind, md.CheckerCost(kind), md.ServerCost(kind));
    tally.latency_count[static_cast<size_t>(kind)] += static_cast<uint64_t>(n);
  };
  const SessionModel& m = md.m;
  if (m.persistent) {
    point(u0, md.Outcome(s, conn_open, u0));
    run(u0 + gap, count - 1, kNoHandshake);
    return;
  }
  const bool always_full = !m.offers || !m.client_keeps || m.removed_after_check ||
                           !m.server_can_resume || md.thrash ||
                           gap >= md.lifetime + 1'000'000;  // expired at every next use
  if (always_full) {
    point(u0, md.Outcome(s, conn_open, u0));
    if (count == 1) return;
    const int rest = (m.offers && s.client_has) ? kRefused : kFresh;
    run(u0 + gap, count - 2, rest);
    const int64_t last = u0 + (count - 1) * gap;
    point(last, md.Outcome(s, conn_open, last));  // full again; leaves the final state
    return;
  }
  int64_t pos = 0;
  while (pos < count) {
    const int64_t u = u0 + pos * gap;
    point(u, md.Outcome(s, conn_open, u));
    ++pos;
    if (!(s.client_has && s.server_valid && m.offers) || pos == count) continue;
    int64_t r = 0;
    if (m.renewed_on_resume && gap <= md.lifetime) {  // every use renews: resumed to the end
      r = count - pos;
      s.valid_until = md.ExpiryOf(u0 + (count - 1) * gap);
    } else if (m.renewed_on_resume) {  // within a second of the lifetime: one use at a time
      continue;
    } else {
      r = std::min(count - pos, CeilDiv(s.valid_until - u, gap) - 1);
    }
    run(u + gap, r, kResumed);
    pos += r;
  }
}

}  // namespace

void ClosedFormStream(const Model& md, int b, Stream& st, Slot* slots, int64_t until,
                      SimSeries& series, Tally& tally) {
  const int top = md.config.checker.rise + md.config.checker.fall - 1;
  until = std::min(until, md.end);
  while (st.due < until) {
    const int64_t t = st.due;
    const int64_t window_end = std::min(st.next_restart, until);
    if (t < st.down_until || st.health.value() != top || t >= window_end) {
      StepOne(md, b, 0, st, slots, &series, tally, nullptr);
      continue;
    }
    const int64_t n = CeilDiv(window_end - t, md.inter);
    for (int s = 0; s < md.slots; ++s) {
      int64_t first = 0, count = n, gap = md.inter;
      if (!md.pinned) {
        const int64_t T = md.threads;
        first = ((s - static_cast<int64_t>((static_cast<uint64_t>(b) + st.k) %
                                           static_cast<uint64_t>(T))) %
                     T +
                 T) %
                T;
        count = first < n ? (n - 1 - first) / T + 1 : 0;
        gap = T * md.inter;
      }
      BulkSlot(md, slots[s], st.conn_open, t + first * md.inter, gap, count, series, tally);
    }
    st.k += static_cast<uint64_t>(n);
    st.due = t + n * md.inter;
  }
}

Stream FirstStream(const Model& md, int b, int lb) {
  Stream st;
  st.health = Health(md.config.checker.rise, md.config.checker.fall);
  const int64_t pos = static_cast<int64_t>(b) * md.lbs + lb;
  st.due = md.inter * pos / (static_cast<int64_t>(md.n) * md.lbs);
  st.next_restart = md.FirstRestart(b);
  return st;
}

Model MakeModel(const Config& c, const CostSet& costs) {
  Model md{c, DeriveSessionModel(c), {}};
  const SimulationConfig& sim = c.simulation;
  md.n = c.server.backends;
  md.lbs = sim.checkers;
  md.pinned = sim.checker_threads == 0;
  md.threads = md.pinned ? c.checker.threads : sim.checker_threads;
  // HAProxy 1.8+ keeps one saved session per thread (src/ssl_sock.c ssl_sock_set_servername /
  // ssl_sock_init: srv->ssl_ctx.reused_sess[tid]; reg-tests/ssl/ssl_reuse.vtc: "there is a
  // cached session per thread") and lets any thread run a server's check (src/check.c
  // start_check_task: task_new(MAX_THREADS_MASK); process_chk_conn: task_set_affinity(t,
  // MAX_THREADS_MASK)). We take the threads in turn, so every thread's session is used every
  // nbthread checks. The lab's own checker pins a backend to one thread with one session.
  md.slots = (md.pinned || md.m.persistent) ? 1 : md.threads;
  if (md.m.persistent) md.pinned = true;
  md.thrash =
      md.m.stateful &&
      static_cast<int64_t>(md.lbs) * md.slots * md.m.cache_entries_per_client > md.m.cache_size;
  md.inter = c.checker.inter.count() * 1000;
  md.end = c.duration.count() * 1000;
  md.timeout = EffectiveCheckTimeout(c.checker).count() * 1000;
  md.lifetime = md.m.lifetime_us;
  md.restart_every = sim.restart_every.count() * 1000;
  md.downtime = sim.restart_downtime.count() * 1000;
  md.groups = std::max(1, static_cast<int>(1.0 / sim.restart_share + 0.5));
  md.rtt = sim.rtt.count() * 1000;
  // The nominal check rate of one event-loop thread of each side says how busy it is and so
  // what a check costs it (sim/wake.h): a load balancer's checks over its threads; every load
  // balancer's checks over the server's threads, or over one backend's cores when each
  // backend is its own machine (simulation backend_cores).
  const double checks_per_s = static_cast<double>(md.n) * 1e6 / static_cast<double>(md.inter);
  const double server_loops = sim.backend_cores > 0 ? static_cast<double>(md.n) * sim.backend_cores
                                                    : static_cast<double>(c.server.threads);
  md.cost = CostsPerCheck(md.m, costs, c.tls.key, checks_per_s / md.threads,
                          checks_per_s * md.lbs / server_loops);
  return md;
}

}  // namespace tlslab::sim
