"""Locale choice: the user's switch (a cookie), their account, the browser, the default."""

from flask import current_app, has_request_context, request
from flask_login import current_user

from lms.config import SUPPORTED_LOCALES

LOCALE_COOKIE = "lms_lang"

#: Accept-Language tags -> our translation directories (Werkzeug does not match script subtags)
LANG_ALIASES = {
    "zh-CN": "zh_Hans_CN", "zh-SG": "zh_Hans_CN", "zh-Hans": "zh_Hans_CN", "zh-Hans-CN": "zh_Hans_CN",
    "zh-TW": "zh_Hant_TW", "zh-HK": "zh_Hant_TW", "zh-MO": "zh_Hant_TW", "zh-Hant": "zh_Hant_TW",
    "zh-Hant-TW": "zh_Hant_TW", "zh-Hant-HK": "zh_Hant_TW", "zh": "zh_Hans_CN", "en": "en",
    "en-US": "en", "en-GB": "en",
}

LANGUAGE_NAMES = {"zh_Hans_CN": "简体中文", "zh_Hant_TW": "繁體中文", "en": "English"}


def select_locale() -> str:
    if not has_request_context():  # commands and background work speak the default language
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    chosen = request.cookies.get(LOCALE_COOKIE)
    if chosen in SUPPORTED_LOCALES:
        return chosen
    if current_user and getattr(current_user, "locale", None) in SUPPORTED_LOCALES:
        return current_user.locale
    match = request.accept_languages.best_match(list(LANG_ALIASES))
    if match:
        return LANG_ALIASES[match]
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    return current_app.config.get("CITY_TIMEZONE") or current_app.config["BABEL_DEFAULT_TIMEZONE"]


def html_lang(locale: str) -> str:
    return {"zh_Hans_CN": "zh-Hans", "zh_Hant_TW": "zh-Hant", "en": "en"}.get(locale, "zh-Hans")
