from django.core.mail import EmailMessage


def test_mail_sent_through_django_arrives_at_the_real_smtp_server(smtp_server):
    EmailMessage("件名 テスト", "本文です", "from@example.jp", ["to@example.jp"]).send()
    [received] = smtp_server.wait_for(1)
    assert received.rcpt_tos == ["to@example.jp"]
    assert received.message["Subject"] == "件名 テスト"
    assert received.message.get_content().strip() == "本文です"


def test_a_refusing_server_makes_the_send_fail(smtp_server):
    import smtplib

    import pytest

    smtp_server.reply = "550 5.1.1 no such user"
    with pytest.raises(smtplib.SMTPDataError):
        EmailMessage("s", "b", "from@example.jp", ["to@example.jp"]).send()
    assert smtp_server.messages == []
