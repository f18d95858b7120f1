"""Words of core's notification pages, translated in scoring's catalogue.

Scoring is the first app to notify people; core's own catalogue (the project locale) is the
lead's to update, and until it carries these, this keeps the top bar Japanese.
"""

from django.utils.translation import gettext_noop

CORE_NOTIFICATION_WORDS = (
    gettext_noop("Notifications"),
    gettext_noop("Mark all read"),
    gettext_noop("No notifications."),
)
