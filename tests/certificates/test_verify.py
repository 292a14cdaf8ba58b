"""Public verification: the verification code (and the QR link) work alone; a certificate
number finds a certificate only together with its holder's full name, so counting up numbers
reveals nothing."""

from __future__ import annotations

import re

from lms.certificates import service
from lms.core.clock import local_today


def _post(client, ip, **data):
    return client.post("/verify", data=data, environ_base={"REMOTE_ADDR": ip})


def _body(response, *numbers) -> str:
    """The page as a reader sees it, the number typed and the form's (timestamped) token aside."""
    text = re.sub(r'name="csrf_token" value="[^"]*"', "", response.get_data(as_text=True))
    for number in numbers:
        text = text.replace(number, "NUMBER")
    return text


def test_counting_up_numbers_without_the_name_reveals_nothing(app, world, cert):
    client = app.test_client()
    year, base = local_today().year, world.base.id
    pages = []
    for serial in range(1, 6):  # serial 1 is the real certificate
        number = f"BYS-{year}-{base:04d}-{serial:06d}"
        response = _post(client, "10.1.1.1", q=number)
        assert response.status_code == 404
        pages.append(_body(response, number))
    assert len(set(pages)) == 1  # the real number's answer equals the unknown ones'
    assert "张*雯" not in pages[0] and cert.number not in pages[0]
    assert "also give the holder" in pages[0]
    wrong = _post(client, "10.1.1.1", q=cert.number, name="李四")
    assert wrong.status_code == 404 and "张*雯" not in wrong.get_data(as_text=True)
    unknown = _post(client, "10.1.1.1", q=f"BYS-{year}-{base:04d}-000002", name="李四")
    assert _body(wrong, cert.number) == _body(unknown, f"BYS-{year}-{base:04d}-000002")


def test_the_number_with_the_holders_name_and_the_code_alone_work(app, world, cert):
    client = app.test_client()
    found = _post(client, "10.1.1.2", q=cert.number.lower(), name=f" {world.staff.name} ")
    assert found.status_code == 200 and "张*雯" in found.get_data(as_text=True)
    by_code = _post(client, "10.1.1.2", q=cert.verify_code)
    assert by_code.status_code == 200 and cert.number in by_code.get_data(as_text=True)
    qr = client.get(re.sub(r"^https?://[^/]+", "", service.verify_link(cert)),
                    environ_base={"REMOTE_ADDR": "10.1.1.2"})
    assert qr.status_code == 200 and "张*雯" in qr.get_data(as_text=True)
    # a code is exact: the number-and-name rule is not a way round it
    assert _post(client, "10.1.1.2", q=cert.verify_code.swapcase()).status_code == 404
