"""The API's test world: the conftest world plus one token per scope."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lms.api import tokens as token_service
from lms.core.clock import local_today
from lms.extensions import db


@pytest.fixture()
def tokens(world) -> dict[str, str]:
    """Bearer tokens: 'xuanwu' (district of world.inst), 'gulou' (world.inst_other), 'city',
    'feed' (bans feed only)."""
    admin = world.users["admin"]
    expires = local_today() + timedelta(days=30)
    issued = {
        "xuanwu": token_service.issue_client(admin, name="玄武区智慧托育", scope="district",
                                             district=world.xuanwu, expires_on=expires),
        "gulou": token_service.issue_client(admin, name="鼓楼区平台", scope="district",
                                            district=world.gulou, expires_on=expires),
        "city": token_service.issue_client(admin, name="人社局支付系统", scope="city",
                                           district=None, expires_on=expires),
        "feed": token_service.issue_client(admin, name="公共信用信息平台", scope="bans_feed",
                                           district=None, expires_on=expires),
    }
    db.session.commit()
    return {name: i.secret for name, i in issued.items()}


def bearer(token: str, **headers) -> dict:
    return {"Authorization": f"Bearer {token}", **headers}
