"""Small builders for valid identifiers used across tests."""

from stdnum.cn import ric, uscc

_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def id_number(region: str = "320102", born: str = "19900307", seq: int = 2) -> str:
    body = f"{region}{born}{seq:03d}"
    return body + ric.calc_check_digit(body + "0")


def credit_code(n: int, region: str = "320102") -> str:
    org = "".join(_ALPHABET[(n * 7 + i * 3) % len(_ALPHABET)] for i in range(8)) + str(n % 10)
    body = "52" + region + org
    return body + uscc.calc_check_digit(body)
