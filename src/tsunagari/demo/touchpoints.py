"""Generated touchpoints: a year of web visits, emails, forms, trade shows, seminars and calls.

Each contact's touches fall in the last year before the data set's "now", between its creation
and its last activity (people.make_contacts draws that time): the latest touch is at its last
activity exactly, as `touchpoints_append` would have left it, so the contact row needs no change.
A contact inactive for the whole year (or never active) has no touches.

How many: a contact's engagement (a long-tailed gamma draw) times its stage's rate of visits,
forms, events and calls over the time it was active, on top of what every contact gets:

- the touch it arrived by (a form with the pages before it, a business card from a trade show),
  and the one that moved it to its current stage (a pricing page view for MQL, a call for SQL,
  a meeting for opportunity and customer);
- the emails it was sent while opted in (the monthly newsletter, seminar invitations and a few
  announcements, all sent at the same time to everyone), opens and clicks, and the visit a click
  starts.

Touches are what the tracking app writes for the same events: page views and time on page from
the snippet (source: the site's origin, campaign: utm_campaign), `form_submitted` with the form
in `properties`, imported trade-show lists at 10:00 on the show's day, calls and meetings with
their staff user. The rows of a chunk are written in order of receipt, so a contact's touches are
spread through the table as they are in a stream, not stored side by side.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter

from tsunagari.demo import vocabulary as v
from tsunagari.demo.context import ContactChunk, ContactFacts, DemoContext
from tsunagari.demo.people import S
from tsunagari.tracking.vocabulary import TYPE_CHANNEL, Type

TOUCHPOINT_FIELDS = (
    "contact",
    "account",
    "type",
    "channel",
    "occurred_at",
    "received_at",
    "source",
    "campaign",
    "url",
    "path",
    "title",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "duration_ms",
    "properties",
    "recorded_by",
    "utm_term",
    "utm_content",
    "content_asset",
)
_UNUSED = ("", "", "")  # the last three: blank, but without a default to leave them to

DAY = 86_400
WINDOW = 365 * DAY  # touches lie in the year before the data set's "now"
_JST = dt.timezone(dt.timedelta(hours=9))  # Japan has no daylight saving time
_JST_OFFSET = 9 * 3600

# Types as plain strings, and their channels.
PAGE_VIEW, PAGE_LEAVE, DOWNLOAD = Type.PAGE_VIEW.value, Type.PAGE_LEAVE.value, Type.DOWNLOAD.value
EMAIL_SENT, EMAIL_OPENED = Type.EMAIL_SENT.value, Type.EMAIL_OPENED.value
EMAIL_CLICKED, EMAIL_UNSUBSCRIBED = Type.EMAIL_CLICKED.value, Type.EMAIL_UNSUBSCRIBED.value
FORM_SUBMITTED = Type.FORM_SUBMITTED.value
CALL, VISIT, MEETING = Type.CALL.value, Type.VISIT.value, Type.MEETING.value
TRADE_SHOW, BUSINESS_CARD = Type.TRADE_SHOW_SCAN.value, Type.BUSINESS_CARD.value
SEMINAR_REGISTERED = Type.SEMINAR_REGISTERED.value
SEMINAR_ATTENDED = Type.SEMINAR_ATTENDED.value
CHANNEL: dict[str, str] = {str(t.value): str(c.value) for t, c in TYPE_CHANNEL.items()}

_EMPTY = "{}"
_EMAIL_SOURCE = "email"
_SITE = v.SITE

# Background activity a year by stage (visits, forms, seminars, shows, calls, meetings), and
# the mix of those kinds: later stages visit more, and talk to sales.
_RATE = {
    S.SUBSCRIBER: 1.2,
    S.LEAD: 1.9,
    S.MQL: 5.5,
    S.SQL: 7.0,
    S.OPPORTUNITY: 8.0,
    S.CUSTOMER: 5.0,
    S.NURTURE: 2.4,
    S.DISQUALIFIED: 0.8,
}
_KINDS = ("web", "form", "seminar", "show", "call", "meeting")
_KIND_WEIGHTS = {
    S.SUBSCRIBER: (86, 6, 4, 4, 0, 0),
    S.LEAD: (74, 9, 6, 5, 6, 0),
    S.MQL: (62, 11, 8, 5, 14, 0),
    S.SQL: (48, 8, 7, 4, 26, 7),
    S.OPPORTUNITY: (40, 6, 6, 4, 20, 24),
    S.CUSTOMER: (46, 4, 10, 4, 11, 25),
    S.NURTURE: (70, 8, 7, 5, 10, 0),
    S.DISQUALIFIED: (86, 5, 3, 3, 3, 0),
}
_KIND_CUM = {stage: list(itertools.accumulate(w)) for stage, w in _KIND_WEIGHTS.items()}
# Chance of opening an email, before engagement.
_OPEN = {
    S.SUBSCRIBER: 0.30,
    S.LEAD: 0.22,
    S.MQL: 0.40,
    S.SQL: 0.40,
    S.OPPORTUNITY: 0.42,
    S.CUSTOMER: 0.45,
    S.NURTURE: 0.25,
    S.DISQUALIFIED: 0.10,
}
_ENGAGED = frozenset((S.MQL, S.SQL, S.OPPORTUNITY, S.CUSTOMER))
_SALES = frozenset((S.SQL, S.OPPORTUNITY, S.CUSTOMER))

# Pages: (path, url, title) by section; which sections a visitor reads depends on the stage.
_SECTIONS = ("blog", "pricing", "case", "product", "whitepaper", "seminar")
_SECTION_CUM = {
    "early": list(itertools.accumulate((62, 4, 8, 12, 9, 5))),
    "engaged": list(itertools.accumulate((34, 18, 18, 17, 6, 7))),
    "customer": list(itertools.accumulate((45, 8, 12, 25, 4, 6))),
}
_STAGE_SECTIONS = {
    stage: "customer" if stage == S.CUSTOMER else "engaged" if stage in _ENGAGED else "early"
    for stage in _KIND_WEIGHTS
}


def _page(path: str, title: str) -> tuple[str, str, str]:
    return (path, _SITE + path, f"{title}｜{v.SITE_NAME}")


_PAGES = {
    "blog": [_page(f"/blog/{slug}", title) for slug, title in v.BLOG_POSTS],
    "pricing": [_page("/pricing", "料金プラン")],
    "case": [_page(f"/case-studies/{slug}", title) for slug, title in v.CASE_STUDIES],
    "product": [_page(f"/products/{slug}", title) for slug, title in v.PRODUCTS],
    "whitepaper": [
        _page("/whitepaper", "お役立ち資料ダウンロード"),
        *(
            _page(f"/whitepaper/{slug}", f"{title}（無料ダウンロード）")
            for slug, title in v.WHITEPAPERS
        ),
    ],
}
# The popular posts and pages are read far more than the others.
_PAGE_CUM = {
    section: list(itertools.accumulate(1 / (rank**0.8) for rank in range(1, len(pages) + 1)))
    for section, pages in _PAGES.items()
}
_DEMO_PAGE = _page("/demo", "デモのお申し込み")
_CONTACT_PAGE = _page("/contact", "お問い合わせ")
_WHITEPAPER_PAGES = [
    (slug, title, _page(f"/whitepaper/{slug}", f"{title}（無料ダウンロード）"))
    for slug, title in v.WHITEPAPERS
]
_FILES = {
    slug: (f"/files/{slug}.pdf", f"{_SITE}/files/{slug}.pdf", title)
    for slug, title in v.WHITEPAPERS
}
_STAY_MEDIAN = {"pricing": 75.0, "case": 90.0, "whitepaper": 50.0, "seminar": 45.0}

# How a visit arrives: (referrer, utm_source, utm_medium, utm_campaign), weighted.
_ENTRIES = (
    ("https://www.google.com/", "", "", ""),
    ("https://search.yahoo.co.jp/", "", "", ""),
    ("", "", "", ""),
    ("https://www.bing.com/", "", "", ""),
    ("https://www.google.com/", "google", "cpc", "search_ma"),
    ("https://www.google.com/", "google", "cpc", "search_brand"),
    ("https://www.facebook.com/", "facebook", "social", "seminar_promo"),
    ("https://www.linkedin.com/", "linkedin", "social", "whitepaper_promo"),
    ("", "yahoo", "display", "retargeting"),
)
_ENTRY_CUM = list(itertools.accumulate((38, 14, 30, 3, 5, 2, 4, 2, 2)))
_DIRECT = ("", "", "", "")

# Working hours in Japan, when B2B people read, call and meet (weights per hour, JST).
_HOUR_CUM = list(
    itertools.accumulate(
        (1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 3, 6, 10, 11, 10, 7, 9, 11, 11, 10, 8, 5, 3, 2, 2, 2, 1.5)
    )
)
_CALL_HOUR_CUM = list(itertools.accumulate((0,) * 9 + (6, 10, 9, 2, 7, 10, 10, 9, 6, 2) + (0,) * 5))
_FORMS_ENGAGED = list(itertools.accumulate((62, 28, 10)))  # whitepaper, demo, inquiry
_FORMS_EARLY = list(itertools.accumulate((86, 5, 9)))

_json_cache: dict[str, str] = {}


# A touch while it is made: (occurred, seconds until received, type, source, campaign, url,
# path, title, referrer, utm_source, utm_medium, utm_campaign, duration_ms, properties,
# recorded_by): the row's fields from `source` on, after its two times.
def _web(
    t: int,
    kind: str,
    page: tuple[str, str, str],
    url: str,
    referrer: str = "",
    utm: tuple[str, str, str, str] = ("", "", "", ""),
    duration: int | None = None,
    props: str = "{}",
    title: str | None = None,
) -> tuple:
    """A touch on our site, as the snippet (or a form post) records it."""
    _r, us, um, uc = utm
    return (
        t,
        1,
        kind,
        _SITE,
        uc,
        url,
        page[0],
        page[2] if title is None else title,
        referrer,
        us,
        um,
        uc,
        duration,
        props,
        None,
    )


def _mail(t: int, kind: str, campaign: str, subject: str, url: str = "", path: str = "") -> tuple:
    return (
        t,
        2,
        kind,
        _EMAIL_SOURCE,
        campaign,
        url,
        path,
        subject,
        "",
        "",
        "",
        "",
        None,
        _EMPTY,
        None,
    )


def _offline(
    t: int,
    delay: int,
    kind: str,
    source: str,
    title: str,
    campaign: str = "",
    props: str = "{}",
    user: int | None = None,
) -> tuple:
    """A touch recorded by staff or imported from a list, `delay` seconds after it happened."""
    return (t, delay, kind, source, campaign, "", "", title, "", "", "", "", None, props, user)


def _form_props(form: str) -> str:
    """{"form": …} as Django stores it; one string per form, shared by every row."""
    text = _json_cache.get(form)
    if text is None:
        text = _json_cache[form] = json.dumps({"form": form})
    return text


_NOTES = [json.dumps({"note": note}) for note in v.CALL_NOTES]
_utm_urls: dict[tuple[str, str, str, str], str] = {}


def _utm_url(url: str, source: str, medium: str, campaign: str) -> str:
    if not source:
        return url
    key = (url, source, medium, campaign)
    full = _utm_urls.get(key)
    if full is None:
        full = _utm_urls[key] = (
            f"{url}?utm_source={source}&utm_medium={medium}&utm_campaign={campaign}"
        )
    return full


@dataclass(frozen=True)
class Calendar:
    """What happens on fixed dates around the data set's year: emails, seminars, trade shows."""

    # (send time, campaign, subject, link (path, url, title), utm_campaign, kind)
    emails: list[tuple[int, str, str, tuple[str, str, str], str, str]]
    email_times: list[int]
    # (start time, name, page (path, url, title))
    seminars: list[tuple[int, str, tuple[str, str, str]]]
    seminar_times: list[int]
    # (10:00 on a show day, name, visitor-list source, card source)
    show_days: list[tuple[int, str, str, str]]
    show_times: list[int]


def _at(day: dt.date, hour: int, minute: int = 0) -> int:
    return int(dt.datetime.combine(day, dt.time(hour, minute), tzinfo=_JST).timestamp())


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


_calendars: dict[int, Calendar] = {}


def calendar(end: int) -> Calendar:
    """The fixed dates of the year before `end` (and a little after, for registrations)."""
    cached = _calendars.get(end)
    if cached is not None:
        return cached
    last = dt.datetime.fromtimestamp(end, _JST).date()
    first = last - dt.timedelta(days=400)
    emails, seminars, shows = [], [], []
    month = dt.date(first.year, first.month, 1)
    while month <= last + dt.timedelta(days=62):
        y, m = month.year, month.month
        n = y * 12 + m
        # The newsletter: second Tuesday at 10:00, linking to a post of the month.
        slug, post = v.BLOG_POSTS[n % len(v.BLOG_POSTS)]
        link = _page(f"/blog/{slug}", post)
        emails.append(
            (
                _at(_nth_weekday(y, m, 1, 2), 10),
                f"{y}年{m}月ニュースレター",
                f"【{v.SITE_NAME}】{m}月のニュースレター：{post}",
                link,
                f"newsletter_{y}{m:02d}",
                "newsletter",
            )
        )
        # Our seminar: third Thursday at 15:00, invited to three weeks before.
        topic_slug, topic = v.SEMINAR_TOPICS[n % len(v.SEMINAR_TOPICS)]
        day = _nth_weekday(y, m, 3, 3)
        name = f"{topic}（{y}年{m}月）"
        page = _page(f"/seminar/{y}{m:02d}-{topic_slug}", name)
        seminars.append((_at(day, 15), name, page))
        emails.append(
            (
                _at(day - dt.timedelta(days=21), 10),
                f"セミナーのご案内：{name}",
                f"【参加無料】{name}のご案内",
                page,
                f"seminar_{y}{m:02d}",
                "seminar",
            )
        )
        # A few announcements a year: fourth Wednesday at 11:00.
        if m in (2, 5, 8, 12):
            subject, kind = v.EMAIL_SPECIALS[(2, 5, 8, 12).index(m)]
            link = (
                _PAGES["case"][n % len(v.CASE_STUDIES)]
                if kind == "case"
                else _PAGES["product"][n % len(v.PRODUCTS)]
            )
            emails.append(
                (
                    _at(_nth_weekday(y, m, 2, 4), 11),
                    f"{y}年{m}月 お知らせメール",
                    subject,
                    link,
                    f"announce_{y}{m:02d}",
                    "special",
                )
            )
        month = (month + dt.timedelta(days=32)).replace(day=1)
    for year in (first.year, last.year):
        for show_month, show_day, days, show in v.TRADE_SHOWS:
            name = f"{show} {year}"
            for k in range(days):
                day = dt.date(year, show_month, show_day) + dt.timedelta(days=k)
                shows.append(
                    (
                        _at(day, 10),
                        name,
                        f"import:{name} 来場者リスト.csv",
                        f"import:{name} 名刺.csv",
                    )
                )
    emails.sort(key=itemgetter(0))
    seminars.sort(key=itemgetter(0))
    shows.sort(key=itemgetter(0))
    made = Calendar(
        emails=emails,
        email_times=[e[0] for e in emails],
        seminars=seminars,
        seminar_times=[s[0] for s in seminars],
        show_days=shows,
        show_times=[s[0] for s in shows],
    )
    _calendars[end] = made
    return made


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _pick(rng: random.Random, cum: list[float]) -> int:
    return bisect.bisect(cum, rng.random() * cum[-1])


def _work_time(rng: random.Random, lo: int, hi: int, hours: list[float] = _HOUR_CUM) -> int:
    """A time in [lo, hi], mostly on a weekday in working hours (Japan time)."""
    t = lo + int((hi - lo) * rng.random())
    local_day = (t + _JST_OFFSET) // DAY
    weekday = (local_day + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    if weekday >= 5 and rng.random() < 0.8:
        local_day -= weekday - 4  # most weekend work happened on Friday
    moved = local_day * DAY - _JST_OFFSET + _pick(rng, hours) * 3600 + rng.randrange(3600)
    return moved if lo <= moved <= hi else t


class _Person:
    """One contact while its touches are made: what they depend on, and the touches so far."""

    __slots__ = ("cal", "field", "g", "inside", "out", "sections", "stage")

    def __init__(self, stage: str, g: float, inside: tuple, field: tuple, cal: Calendar) -> None:
        self.stage = stage
        self.sections = _SECTION_CUM[_STAGE_SECTIONS[stage]]
        self.g = g  # engagement
        self.inside = inside  # (user id, "staff:username") of who calls them
        self.field = field  # … and who meets them
        self.cal = cal
        self.out: list[tuple] = []


def _some_page(rng: random.Random, person: _Person, t: int) -> tuple[str, tuple]:
    """A page the person reads, by what people at their stage read."""
    section = _SECTIONS[_pick(rng, person.sections)]
    if section == "seminar":  # the page of the next seminar
        seminars = person.cal.seminars
        return section, seminars[
            min(bisect.bisect(person.cal.seminar_times, t), len(seminars) - 1)
        ][2]
    return section, _PAGES[section][_pick(rng, _PAGE_CUM[section])]


def _visit(
    rng: random.Random,
    person: _Person,
    t: int,
    entry: tuple[str, str, str, str],
    first: tuple[str, tuple] | None = None,
    pages: int = 0,
) -> int:
    """A visit of `pages` page views (0: a few) from `t`, some with time on page; its end."""
    out = person.out
    referrer = entry[0]
    utm = entry
    if not pages:
        pages = 1
        while pages < 8 and rng.random() < 0.38:
            pages += 1
    for n in range(pages):
        section, page = first if n == 0 and first else _some_page(rng, person, t)
        url = _utm_url(page[1], *entry[1:]) if n == 0 else page[1]
        out.append(_web(t, PAGE_VIEW, page, url, referrer, utm))
        stay = int(min(1800.0, rng.lognormvariate(math.log(_STAY_MEDIAN.get(section, 40.0)), 1.0)))
        if rng.random() < 0.4:
            out.append(_web(t + stay, PAGE_LEAVE, page, url, referrer, utm, stay * 1000))
        t += stay + 1 + rng.randrange(5)
        referrer, utm = url, _DIRECT
    return t


def _form(rng: random.Random, person: _Person, t: int, kind: int) -> None:
    """A form on our site after its page: a whitepaper (then its download), a demo, an inquiry."""
    if kind == 0:
        slug, title, page = _WHITEPAPER_PAGES[rng.randrange(len(_WHITEPAPER_PAGES))]
        form = f"資料ダウンロード：{title}"
    else:
        page, form = (
            (_DEMO_PAGE, "デモ依頼") if kind == 1 else (_CONTACT_PAGE, "お問い合わせフォーム")
        )
        slug = ""
    t = _visit(rng, person, t, _ENTRIES[_pick(rng, _ENTRY_CUM)], ("whitepaper", page), 1)
    out = person.out
    out.append(_web(t, FORM_SUBMITTED, page, page[1], props=_form_props(form), title=""))
    if slug:
        out.append(_web(t + 2, DOWNLOAD, _FILES[slug], _FILES[slug][1], page[1]))


def _seminar(rng: random.Random, person: _Person, t: int, entry: tuple) -> None:
    """Registration for the next seminar on its page, and often attending it."""
    cal = person.cal
    i = bisect.bisect(cal.seminar_times, t)
    if i >= len(cal.seminars):
        return
    start, name, page = cal.seminars[i]
    t = _visit(rng, person, t, entry, ("seminar", page), 1)
    out = person.out
    props = _form_props(f"セミナー申込：{name}")
    out.append(_web(t, FORM_SUBMITTED, page, page[1], props=props, title=""))
    registered = _web(t, SEMINAR_REGISTERED, page, page[1], title=name)
    out.append((*registered[:4], name, *registered[5:]))  # the seminar is the campaign
    if rng.random() < 0.55 + 0.1 * min(person.g, 2.0):
        at = start + rng.randrange(600)
        out.append(
            _offline(at, 3600 + rng.randrange(7200), SEMINAR_ATTENDED, "seminar", name, name)
        )


def _show(rng: random.Random, person: _Person, lo: int, hi: int) -> bool:
    """A visit to our booth at a trade show held while the contact was active, if one was."""
    cal = person.cal
    first = bisect.bisect_left(cal.show_times, lo)
    last = bisect.bisect_right(cal.show_times, hi)
    if first >= last:
        return False
    at, name, visitors, cards = cal.show_days[first + rng.randrange(last - first)]
    # Imported from the scanner's list a few days later, at 10:00 on the day (as imports do).
    later = DAY + rng.randrange(6 * DAY)
    person.out.append(_offline(at, later, TRADE_SHOW, visitors, name, name))
    if rng.random() < 0.35:
        person.out.append(_offline(at, later, BUSINESS_CARD, cards, name, name))
    return True


def _call(rng: random.Random, person: _Person, t: int, title: str = "") -> None:
    user, source = person.inside
    props = _NOTES[rng.randrange(len(_NOTES))] if rng.random() < 0.35 else _EMPTY
    title = title or v.CALL_TITLES[rng.randrange(len(v.CALL_TITLES))]
    delay = 300 + rng.randrange(4 * 3600)  # logged after the call
    person.out.append(_offline(t, delay, CALL, source, title, props=props, user=user))


def _meeting(rng: random.Random, person: _Person, t: int, title: str = "") -> None:
    user, source = person.field
    kind = VISIT if rng.random() < 0.4 else MEETING
    title = title or v.MEETING_TITLES[rng.randrange(len(v.MEETING_TITLES))]
    delay = 1800 + rng.randrange(DAY)
    person.out.append(_offline(t, delay, kind, source, title, user=user))


def _emails(rng: random.Random, person: _Person, lo: int, hi: int, opted_out: int) -> None:
    """The campaigns sent to the contact between `lo` and `hi`, its opens and clicks, and its
    unsubscribing at `opted_out` (0: it did not)."""
    out, cal = person.out, person.cal
    opens = min(0.9, _OPEN[person.stage] * min(2.0, math.sqrt(person.g)))
    invited = 0.25 if person.stage in _ENGAGED else 0.12
    times = cal.email_times
    last_received = ""
    for i in range(bisect.bisect_left(times, lo), bisect.bisect_right(times, hi)):
        sent, campaign, subject, link, utm, kind = cal.emails[i]
        # Not everyone is in every send's segment.
        if rng.random() >= (
            0.62 if kind == "newsletter" else invited if kind == "seminar" else 0.3
        ):
            continue
        sent += rng.randrange(900)  # a large send takes a while
        out.append(_mail(sent, EMAIL_SENT, campaign, subject))
        last_received = campaign
        if rng.random() >= opens:
            continue
        opened = sent + 60 + int(min(7 * DAY, rng.lognormvariate(math.log(3 * 3600), 1.4)))
        out.append(_mail(opened, EMAIL_OPENED, campaign, subject))
        if rng.random() >= 0.22:
            continue
        clicked = opened + 5 + rng.randrange(120)
        entry = ("", "newsletter" if kind == "newsletter" else "email", "email", utm)
        out.append(
            _mail(clicked, EMAIL_CLICKED, campaign, subject, _utm_url(link[1], *entry[1:]), link[0])
        )
        if kind == "seminar" and rng.random() < 0.5:
            _seminar(rng, person, clicked + 2, entry)
        else:
            _visit(rng, person, clicked + 2, entry, (kind, link))
    if opted_out and lo <= opted_out <= hi:
        out.append(_mail(opted_out, EMAIL_UNSUBSCRIBED, last_received, ""))


def _arrival(rng: random.Random, person: _Person, facts: ContactFacts) -> None:
    """The touch the contact arrived by, at its creation."""
    at, origin, stage = facts.created, facts.origin, person.stage
    if origin == "form":
        if stage == S.SUBSCRIBER or (stage == S.LEAD and facts.stage_changed > at):
            # A reader subscribing to the newsletter on a blog post.
            page = _PAGES["blog"][_pick(rng, _PAGE_CUM["blog"])]
            entry = _ENTRIES[_pick(rng, _ENTRY_CUM)]
            _visit(rng, person, at - 30 - rng.randrange(150), entry, ("blog", page), 1)
            props = _form_props("ニュースレター登録")
            person.out.append(_web(at, FORM_SUBMITTED, page, page[1], props=props, title=""))
        elif rng.random() < 0.25:
            _at_form(
                person, at, lambda: _seminar(rng, person, at, _ENTRIES[_pick(rng, _ENTRY_CUM)])
            )
        else:
            kind = 0 if rng.random() < 0.8 else 2
            _at_form(person, at, lambda: _form(rng, person, at, kind))
    elif origin == "import":
        # A business card: from a trade show of the last two weeks, or a sales visit.
        cal = person.cal
        i = bisect.bisect_right(cal.show_times, at) - 1
        if i >= 0 and at - cal.show_times[i] < 14 * DAY and rng.random() < 0.8:
            day, name, visitors, cards = cal.show_days[i]
            person.out.append(_offline(day, at - day, BUSINESS_CARD, cards, name, name))
            if rng.random() < 0.6:
                person.out.append(_offline(day, at - day, TRADE_SHOW, visitors, name, name))
        else:
            user, source = person.field
            title = "名刺交換：" + _CARD_OCCASIONS[rng.randrange(len(_CARD_OCCASIONS))]
            person.out.append(_offline(at, 600, BUSINESS_CARD, source, title, user=user))
    elif origin == "ui":
        _call(rng, person, at, "新規問い合わせ（電話）")


_CARD_OCCASIONS = ("営業訪問", "自社セミナー", "パートナー紹介")


def _at_form(person: _Person, at: int, make: Callable[[], None]) -> None:
    """Make the touches of a form visit, moved so that the form is sent at `at` exactly (the
    seminar, if it was a registration, stays on its day)."""
    out = person.out
    first = len(out)
    make()
    shift = at - next((touch[0] for touch in out[first:] if touch[2] == FORM_SUBMITTED), at)
    if shift:
        out[first:] = [
            touch if touch[2] == SEMINAR_ATTENDED else (touch[0] + shift, *touch[1:])
            for touch in out[first:]
        ]


def _stage_change(rng: random.Random, person: _Person, at: int) -> None:
    """The touch that moved the contact to its current stage."""
    stage = person.stage
    if stage == S.MQL:  # the pricing page that took its score over the threshold
        _visit(rng, person, at, _DIRECT, ("pricing", _PAGES["pricing"][0]), 1)
    elif stage == S.LEAD:
        _at_form(person, at, lambda: _form(rng, person, at, 0))
    elif stage in (S.SQL, S.NURTURE, S.DISQUALIFIED):
        _call(rng, person, at)
    elif stage == S.OPPORTUNITY:
        _meeting(rng, person, at, "訪問：初回提案")
    elif stage == S.CUSTOMER:
        _meeting(rng, person, at, "契約締結")


def touchpoint_rows(rng: random.Random, chunk: ContactChunk, context: DemoContext) -> list[tuple]:
    """TOUCHPOINT_FIELDS rows for the contacts of a chunk, in the order they were received."""
    end, ts, staff = context.end, context.timestamp, context.staff
    window_start = end - WINDOW
    cal = calendar(end)
    names = staff.usernames
    inside = [(u, f"staff:{names.get(u, u)}") for u in staff.inside_sales] or [(None, "staff")]
    field_sales = [(u, f"staff:{names.get(u, u)}") for u in staff.field_sales] or inside
    by_user = {rec[0]: rec for rec in (*inside, *field_sales)}
    inside_ids = {rec[0] for rec in inside}
    field_ids = {rec[0] for rec in field_sales}
    channel = CHANNEL
    rows: list[tuple] = []
    for facts in chunk.facts:
        hi = facts.last_activity
        if hi is None or hi < window_start:
            continue  # no activity this year
        stage, owner = facts.stage, facts.owner_id
        lo = max(facts.created, window_start)
        person = _Person(
            stage,
            # Engagement: about 1 on average, a long tail of keen people.
            min(6.0, rng.gammavariate(0.7, 1 / 0.7)),
            by_user[owner] if owner in inside_ids else inside[rng.randrange(len(inside))],
            by_user[owner] if owner in field_ids else field_sales[rng.randrange(len(field_sales))],
            cal,
        )
        if facts.created >= window_start:
            _arrival(rng, person, facts)
        if facts.stage_changed > facts.created and facts.stage_changed >= window_start:
            _stage_change(rng, person, facts.stage_changed)
        if facts.opted_in:
            opted_out = facts.opted_out
            mail_hi = min(hi, opted_out) if opted_out else hi
            _emails(rng, person, max(lo, facts.opted_in), mail_hi, opted_out)

        # Everything else it did while active.
        kind_cum = _KIND_CUM[stage]
        for _ in range(_poisson(rng, _RATE[stage] * person.g * (hi - lo) / WINDOW)):
            kind = _KINDS[_pick(rng, kind_cum)]
            if kind == "call":
                _call(rng, person, _work_time(rng, lo, hi, _CALL_HOUR_CUM))
            elif kind == "meeting":
                _meeting(rng, person, _work_time(rng, lo, hi, _CALL_HOUR_CUM))
            elif kind == "show" and _show(rng, person, lo, hi):
                pass
            elif kind == "form":
                form_cum = _FORMS_ENGAGED if stage in _ENGAGED else _FORMS_EARLY
                _form(rng, person, _work_time(rng, lo, hi), _pick(rng, form_cum))
            elif kind == "seminar":
                _seminar(rng, person, _work_time(rng, lo, hi), _ENTRIES[_pick(rng, _ENTRY_CUM)])
            else:  # a visit, or a show when none was held while it was active
                _visit(rng, person, _work_time(rng, lo, hi), _ENTRIES[_pick(rng, _ENTRY_CUM)])

        # The touches of the year up to its last activity, which is the latest of them.
        kept = [touch for touch in person.out if window_start <= touch[0] <= hi]
        if not kept or max(touch[0] for touch in kept) != hi:
            person.out = kept
            if stage in _SALES and rng.random() < 0.3:
                _call(rng, person, hi)
            else:
                _visit(rng, person, hi, _ENTRIES[_pick(rng, _ENTRY_CUM)], pages=1)
            kept = [touch for touch in person.out if touch[0] <= hi]
        ids = (facts.id, facts.account_id)
        for touch in kept:
            t, kind = touch[0], touch[2]
            received = ts(min(end, t + touch[1]))
            rows.append((*ids, kind, channel[kind], ts(t), received, *touch[3:], *_UNUSED))
    rows.sort(key=itemgetter(5))  # the order the stream received them in
    return rows
