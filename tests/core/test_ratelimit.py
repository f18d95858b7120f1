from tsunagari.core.ratelimit import RateLimiter


def test_a_burst_is_allowed_then_refused_then_refilled_over_time():
    limiter = RateLimiter(rate=2.0, burst=3)
    assert [limiter.allow("ip", now=0.0) for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("ip", now=0.5)  # one token back after half a second at 2/s
    assert not limiter.allow("ip", now=0.5)


def test_each_key_has_its_own_bucket():
    limiter = RateLimiter(rate=1.0, burst=1)
    assert limiter.allow("a", now=0.0) and limiter.allow("b", now=0.0)
    assert not limiter.allow("a", now=0.0)


def test_full_buckets_are_forgotten_when_too_many_keys_are_held():
    limiter = RateLimiter(rate=1.0, burst=1, max_keys=2)
    for i in range(3):
        limiter.allow(str(i), now=0.0)
    limiter.allow("late", now=100.0)
    assert len(limiter._buckets) == 1
