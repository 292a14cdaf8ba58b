"""Encryption at rest (lms.core.crypto): what is stored cannot be read or matched without the
keys, the keys rotate without losing a record, and the app refuses to start without keys."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select, text

from lms import create_app
from lms.core import crypto
from lms.core.crypto import DecryptionError, KeyConfigError, Keyring, keyring_from_config, new_key
from lms.core.models import AuditLog
from lms.extensions import db
from lms.registry import service as registry
from lms.registry.models import Ban, Person
from tests.conftest import database_url
from tests.factories import id_number

NUMBER = id_number("320102", "19900307", 2)
OLD, NEW, LOOKUP = new_key(), new_key(), new_key()


def ring(data=(OLD,), lookup=LOOKUP) -> Keyring:
    return Keyring.from_strings(",".join(data), lookup)


def test_encrypt_then_decrypt_gives_the_number_and_never_the_same_ciphertext_twice():
    keys = ring()
    first, second = keys.encrypt(NUMBER, "id_number"), keys.encrypt(NUMBER, "id_number")
    assert first != second and NUMBER not in first
    assert keys.decrypt(first, "id_number") == keys.decrypt(second, "id_number") == NUMBER
    assert len(first) <= 128  # the column's width


def test_a_tampered_value_or_one_moved_to_another_column_does_not_decrypt():
    keys = ring()
    token = keys.encrypt(NUMBER, "id_number")
    with pytest.raises(DecryptionError):
        keys.decrypt(token, "bank_account")
    raw = bytearray(keys.seal(NUMBER.encode(), "id_number"))
    raw[-1] ^= 1
    with pytest.raises(DecryptionError):
        keys.open(bytes(raw), "id_number")


def test_rotation_new_key_first_decrypts_old_values_and_dropping_the_old_key_too_early_fails():
    old_token = ring((OLD,)).encrypt(NUMBER, "id_number")
    both = ring((NEW, OLD))
    assert both.decrypt(old_token, "id_number") == NUMBER
    assert not both.is_current(old_token)
    new_token = both.encrypt(NUMBER, "id_number")
    assert both.is_current(new_token)
    assert ring((NEW,)).decrypt(new_token, "id_number") == NUMBER
    with pytest.raises(DecryptionError, match="not in LMS_DATA_KEYS"):
        ring((NEW,)).decrypt(old_token, "id_number")


def test_the_lookup_hash_is_the_same_for_the_same_number_and_depends_on_its_key():
    assert ring().lookup(NUMBER) == ring((NEW,)).lookup(NUMBER)  # not on the data keys
    assert ring().lookup(NUMBER) != ring(lookup=new_key()).lookup(NUMBER)
    assert ring().lookup(NUMBER) != ring().lookup(id_number("320102", "19900307", 4))
    assert NUMBER not in ring().lookup(NUMBER) and NUMBER[-4:] not in ring().tail_lookup(NUMBER)


def test_keys_must_be_32_bytes_of_base64():
    with pytest.raises(KeyConfigError, match="LMS_DATA_KEYS"):
        Keyring.from_strings("c2hvcnQ=", LOOKUP)
    with pytest.raises(KeyConfigError, match="LMS_LOOKUP_KEY"):
        Keyring.from_strings(OLD, "not base64 at all!")


def test_without_keys_only_the_demo_and_the_tests_start():
    with pytest.raises(KeyConfigError, match="LMS_DATA_KEYS and LMS_LOOKUP_KEY must be set"):
        keyring_from_config({"DATA_KEYS": "", "LOOKUP_KEY": ""})
    with pytest.raises(KeyConfigError, match="must be set"):
        keyring_from_config({"DATA_KEYS": OLD, "LOOKUP_KEY": ""})
    demo = keyring_from_config({"DEMO_KEYS": True})
    assert demo.lookup(NUMBER) == keyring_from_config({"TESTING": True}).lookup(NUMBER)


def test_a_production_app_refuses_to_start_without_keys(monkeypatch):
    for name in ("LMS_DATA_KEYS", "LMS_LOOKUP_KEY", "LMS_DEMO_KEYS"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(KeyConfigError, match="must be set"):
        create_app({"SQLALCHEMY_DATABASE_URI": database_url()})
    monkeypatch.setenv("LMS_DATA_KEYS", f"{NEW},{OLD}")
    monkeypatch.setenv("LMS_LOOKUP_KEY", LOOKUP)
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url()})
    assert len(app.extensions["lms_keyring"].data_keys) == 2


def _stored(table: str, column: str, row_id: int) -> str:
    return db.session.execute(text(f"SELECT {column} FROM {table} WHERE id = :id"),  # noqa: S608
                              {"id": row_id}).scalar()


def test_stored_numbers_are_ciphertext_and_lookups_still_find_them(app, world):
    person = world.staff
    stored = _stored("persons", "id_number_enc", person.id)
    assert person.id_number not in stored and len(person.id_number) == 18
    assert registry.find_person(person.id_number).id == person.id
    db.session.expire_all()
    assert db.session.get(Person, person.id).id_number == person.id_number
    # the staff list's "last four" search
    found = db.session.scalars(registry.staff_statement(world.inst, search=person.id_number[-4:]))
    assert person.id in {e.person_id for e in found}


def test_rotate_keys_re_encrypts_under_the_new_key_and_rehashes_under_a_new_lookup_key(app, world):
    person = world.staff
    number = person.id_number
    ban = registry.record_ban(world.users["regulator"], id_number=id_number("320106", "19800101", 9),
                              name="禁业者", kind="lifetime", starts_on=date(2025, 1, 1),
                              ends_on=None, reason="虐童")
    banned = ban.id_number
    db.session.commit()
    before = app.extensions["lms_keyring"]
    try:
        # a new data key first, and a new lookup key
        app.extensions["lms_keyring"] = Keyring(
            [crypto._key(NEW, "LMS_DATA_KEYS"), *before.data_keys], crypto._key(LOOKUP, "x"))
        db.session.expire_all()
        assert registry.find_person(number) is None  # the old hashes: rotate-keys is due
        changed = crypto.rotate(batch=7)
        assert changed["persons"] >= 1 and changed["bans"] == 1
        assert crypto.rotate()["persons"] == 0  # done: nothing left
        # the old key dropped: everything still reads and is found
        app.extensions["lms_keyring"] = Keyring([crypto._key(NEW, "LMS_DATA_KEYS")],
                                                crypto._key(LOOKUP, "x"))
        db.session.expire_all()
        assert registry.find_person(number).id == person.id
        assert registry.ban_gate([banned])[banned].id == ban.id
        assert all(len(n) == 18 for n in db.session.scalars(select(Person.id_number)))
        assert db.session.scalar(select(AuditLog.action).order_by(AuditLog.id.desc())
                                 ) == "core.keys_rotated"
    finally:
        # back under the test keys: those first, the new key still there to read with
        db.session.rollback()
        app.extensions["lms_keyring"] = Keyring([*before.data_keys, crypto._key(NEW, "x")],
                                                before.lookup_key)
        crypto.rotate()
        app.extensions["lms_keyring"] = before
    db.session.expire_all()
    assert db.session.get(Ban, ban.id).id_number == banned
    assert registry.find_person(number).id == person.id


def test_a_number_quoted_in_a_bans_reason_is_stored_masked(app, world):
    number = id_number("320106", "19800101", 9)
    ban = registry.record_ban(world.users["regulator"], id_number=number, name="禁业者",
                              kind="lifetime", starts_on=date(2025, 1, 1), ends_on=None,
                              reason=f"当事人（身份证号{number.lower()}）虐童，终身禁业")
    db.session.commit()
    assert number not in ban.reason and number.lower() not in ban.reason
    assert f"身份证号{number[:4]}**********{number[-4:].lower()}）" in ban.reason
    assert ban.id_number == number


def test_lookups_remembered_gives_the_same_hashes_and_forgets_them_after_the_block(monkeypatch):
    keys, other = ring(), ring(lookup=new_key())
    computed = []
    real = Keyring._lookup
    monkeypatch.setattr(Keyring, "_lookup", lambda self, v: computed.append(v) or real(self, v))
    plain = keys.lookup(NUMBER), keys.tail_lookup(NUMBER), other.lookup(NUMBER)
    computed.clear()
    with crypto.lookups_remembered():
        assert (keys.lookup(NUMBER), keys.tail_lookup(NUMBER), other.lookup(NUMBER)) == plain
        assert (keys.lookup(NUMBER), keys.tail_lookup(NUMBER), other.lookup(NUMBER)) == plain
        assert len(computed) == 3  # each once; a keyring with another lookup key has its own
        with crypto.lookups_remembered():  # a nested block starts afresh and ends alone
            keys.lookup(NUMBER)
        assert len(computed) == 4
        assert crypto._REMEMBERED.get()[keys.lookup_key] == {
            NUMBER: plain[0], "tail:" + NUMBER[-4:]: plain[1]}
    assert crypto._REMEMBERED.get() is None
    keys.lookup(NUMBER)
    assert len(computed) == 5  # outside the block nothing is remembered
