"""Fixed vocabularies of the CRM: lifecycle stages, industries, prefectures, buying roles, BANT."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class LifecycleStage(models.TextChoices):
    SUBSCRIBER = "subscriber", _("Subscriber")
    LEAD = "lead", _("Lead")
    MQL = "mql", _("MQL")
    SQL = "sql", _("SQL")
    OPPORTUNITY = "opportunity", _("Opportunity")
    CUSTOMER = "customer", _("Customer")
    NURTURE = "nurture", _("Nurture / recycled")
    DISQUALIFIED = "disqualified", _("Disqualified")


class AccountLifecycle(models.TextChoices):
    PROSPECT = "prospect", _("Prospect")
    CUSTOMER = "customer", _("Customer")
    PARTNER = "partner", _("Partner")
    FORMER = "former", _("Former customer")


class AbmTier(models.IntegerChoices):
    NONE = 0, _("None")
    TIER1 = 1, _("Tier 1")
    TIER2 = 2, _("Tier 2")
    TIER3 = 3, _("Tier 3")


class BuyingRole(models.TextChoices):
    DECISION_MAKER = "decision_maker", _("Decision maker")
    INFLUENCER = "influencer", _("Influencer")
    USER = "user", _("User")
    GATEKEEPER = "gatekeeper", _("Gatekeeper")


class BantBudget(models.TextChoices):
    NONE = "none", _("No budget")
    UNDER_1M = "under_1m", _("Under ¥1M")
    FROM_1M = "1m_5m", _("¥1M–5M")
    FROM_5M = "5m_10m", _("¥5M–10M")
    OVER_10M = "over_10m", _("Over ¥10M")


class BantTiming(models.TextChoices):
    WITHIN_3M = "3m", _("Within 3 months")
    WITHIN_6M = "6m", _("Within 6 months")
    WITHIN_1Y = "1y", _("Within a year")
    UNDECIDED = "undecided", _("Undecided")


class Industry(models.TextChoices):
    """Major groups of the Japan Standard Industrial Classification (日本標準産業分類)."""

    AGRICULTURE = "agriculture", _("Agriculture, forestry and fisheries")
    MINING = "mining", _("Mining and construction")
    MANUFACTURING = "manufacturing", _("Manufacturing")
    UTILITIES = "utilities", _("Electricity, gas and water")
    IT = "it", _("Information and communications")
    TRANSPORT = "transport", _("Transport and postal services")
    TRADE = "trade", _("Wholesale and retail trade")
    FINANCE = "finance", _("Finance and insurance")
    REAL_ESTATE = "real_estate", _("Real estate and leasing")
    PROFESSIONAL = "professional", _("Scientific research and professional services")
    HOSPITALITY = "hospitality", _("Accommodation and food services")
    EDUCATION = "education", _("Education")
    MEDICAL = "medical", _("Medical, health care and welfare")
    SERVICES = "services", _("Other services")
    PUBLIC = "public", _("Government")


class Prefecture(models.TextChoices):
    HOKKAIDO = "01", _("Hokkaido")
    AOMORI = "02", _("Aomori")
    IWATE = "03", _("Iwate")
    MIYAGI = "04", _("Miyagi")
    AKITA = "05", _("Akita")
    YAMAGATA = "06", _("Yamagata")
    FUKUSHIMA = "07", _("Fukushima")
    IBARAKI = "08", _("Ibaraki")
    TOCHIGI = "09", _("Tochigi")
    GUNMA = "10", _("Gunma")
    SAITAMA = "11", _("Saitama")
    CHIBA = "12", _("Chiba")
    TOKYO = "13", _("Tokyo")
    KANAGAWA = "14", _("Kanagawa")
    NIIGATA = "15", _("Niigata")
    TOYAMA = "16", _("Toyama")
    ISHIKAWA = "17", _("Ishikawa")
    FUKUI = "18", _("Fukui")
    YAMANASHI = "19", _("Yamanashi")
    NAGANO = "20", _("Nagano")
    GIFU = "21", _("Gifu")
    SHIZUOKA = "22", _("Shizuoka")
    AICHI = "23", _("Aichi")
    MIE = "24", _("Mie")
    SHIGA = "25", _("Shiga")
    KYOTO = "26", _("Kyoto")
    OSAKA = "27", _("Osaka")
    HYOGO = "28", _("Hyogo")
    NARA = "29", _("Nara")
    WAKAYAMA = "30", _("Wakayama")
    TOTTORI = "31", _("Tottori")
    SHIMANE = "32", _("Shimane")
    OKAYAMA = "33", _("Okayama")
    HIROSHIMA = "34", _("Hiroshima")
    YAMAGUCHI = "35", _("Yamaguchi")
    TOKUSHIMA = "36", _("Tokushima")
    KAGAWA = "37", _("Kagawa")
    EHIME = "38", _("Ehime")
    KOCHI = "39", _("Kochi")
    FUKUOKA = "40", _("Fukuoka")
    SAGA = "41", _("Saga")
    NAGASAKI = "42", _("Nagasaki")
    KUMAMOTO = "43", _("Kumamoto")
    OITA = "44", _("Oita")
    MIYAZAKI = "45", _("Miyazaki")
    KAGOSHIMA = "46", _("Kagoshima")
    OKINAWA = "47", _("Okinawa")


# Japanese names used when reading imports and the UI in Japanese: 東京都 → "13", 東京 → "13".
PREFECTURE_NAMES_JA = [
    "北海道",
    "青森県",
    "岩手県",
    "宮城県",
    "秋田県",
    "山形県",
    "福島県",
    "茨城県",
    "栃木県",
    "群馬県",
    "埼玉県",
    "千葉県",
    "東京都",
    "神奈川県",
    "新潟県",
    "富山県",
    "石川県",
    "福井県",
    "山梨県",
    "長野県",
    "岐阜県",
    "静岡県",
    "愛知県",
    "三重県",
    "滋賀県",
    "京都府",
    "大阪府",
    "兵庫県",
    "奈良県",
    "和歌山県",
    "鳥取県",
    "島根県",
    "岡山県",
    "広島県",
    "山口県",
    "徳島県",
    "香川県",
    "愛媛県",
    "高知県",
    "福岡県",
    "佐賀県",
    "長崎県",
    "熊本県",
    "大分県",
    "宮崎県",
    "鹿児島県",
    "沖縄県",
]


class ConsentChannel(models.TextChoices):
    EMAIL = "email", _("Email")
    PHONE = "phone", _("Phone")
    POST = "post", _("Post")
    SMS = "sms", _("SMS")


class ConsentAction(models.TextChoices):
    OPT_IN = "opt_in", _("Opt-in")
    OPT_OUT = "opt_out", _("Opt-out")


class ConsentMethod(models.TextChoices):
    FORM = "form", _("Web form")
    BUSINESS_CARD = "business_card", _("Business card exchange")
    IMPORT = "import", _("Import with stated basis")
    VERBAL = "verbal", _("Verbal")
    EMAIL_LINK = "email_link", _("Email link")
    STAFF = "staff", _("Entered by staff")
    API = "api", _("API")


class ConsentState(models.TextChoices):
    """The current state derived from a contact's consent records for one channel."""

    UNKNOWN = "unknown", _("No record")
    OPT_IN = "opt_in", _("Opted in")
    OPT_OUT = "opt_out", _("Opted out")
