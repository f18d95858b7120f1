"""The issue's scenario, shared by the inline, Celery and kill -9 tests.

"When someone views a case-study page 3 times in 14 days, send the whitepaper email; wait 3
business days; if they clicked, notify the owner and create a call task, else send the next
education email; exit as soon as they become an SQL."
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from tsunagari.journeys import services
from tsunagari.journeys.models import Journey
from tsunagari.mail.models import Template
from tsunagari.mail.services import template_save

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"


def templates() -> tuple[Template, Template]:
    paper = template_save(
        template=Template(
            name="ホワイトペーパー",
            subject="{{ contact.family_name }}様 導入事例ホワイトペーパーのご案内",
            html='<p>資料はこちら: <a href="https://www.example.co.jp/wp/dx.pdf">ダウンロード</a></p>'
            "{{ footer }}",
        )
    )
    education = template_save(
        template=Template(
            name="教育メール2",
            subject="{{ contact.family_name }}様 製造業DXの進め方 第2回",
            html='<p><a href="https://www.example.co.jp/blog/dx-2">続きを読む</a></p>{{ footer }}',
        )
    )
    return paper, education


def scenario_journey(paper: Template, education: Template) -> Journey:
    journey = services.journey_create(
        name="導入事例 3回閲覧",
        trigger={
            "type": "touchpoint",
            "touch_type": "page_view",
            "url_contains": "/case/",
            "count": 3,
            "days": 14,
        },
        graph={
            "start": "paper",
            "steps": {
                "paper": {"type": "email", "template_id": paper.pk, "next": "wait"},
                "wait": {"type": "wait", "mode": "business_days", "days": 3, "next": "clicked"},
                "clicked": {
                    "type": "branch",
                    "conditions": [{"kind": "email", "event": "clicked", "step": "paper"}],
                    "yes": "notify",
                    "no": "education",
                },
                "notify": {"type": "task", "title": "電話でフォロー", "notify": True},
                "education": {"type": "email", "template_id": education.pk, "next": "later"},
                "later": {"type": "wait", "mode": "duration", "days": 14, "next": "end"},
                "end": {"type": "tags", "add": ["教育完了"]},
            },
        },
        goal=[{"kind": "field", "field": "lifecycle_stage", "op": "eq", "value": "sql"}],
    )
    return services.journey_publish(journey=journey)


def click_paths(mail) -> list[str]:
    html = mail.message.get_body(("html",)).get_content()
    return [urlsplit(u).path for u in re.findall(r'href="(https?://[^"]+/m/c/[^"]+)"', html)]
