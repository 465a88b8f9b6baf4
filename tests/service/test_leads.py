from __future__ import annotations

from dialer.leads import demo_leads, load_leads, parse_leads_text

CSV = """borrower_id,phone,name,timezone,priority,purpose
b1,+8613812345678,Zhang San,Asia/Shanghai,1,collection
b2,12345,Li,,,
,+8613812345679,,,,
b4,13812345670,,Mars/Base,,
b5,13812345671,,,x,
b6,13812345672,,,,,extra
b1,13812345673,,,,
b8,13812345674,,,,harass
b9,+12085550123,Bob,America/Boise,,notice
"""


def test_good_rows_go_on_and_bad_rows_are_named_by_line_and_field():
    r = parse_leads_text(CSV)
    assert [(lead.borrower_id, lead.phone) for lead in r.leads] == [
        ("b1", "+8613812345678"), ("b9", "+12085550123")]
    errs = {(e.line, e.field) for e in r.errors}
    assert errs == {(3, "phone"), (4, "borrower_id"), (5, "timezone"), (6, "priority"),
                    (7, "row"), (8, "borrower_id"), (9, "purpose")}
    msg = {e.line: str(e) for e in r.errors}
    assert msg[5].startswith("line 5: timezone: unknown IANA time zone")
    assert "expected an integer" in msg[6]
    assert "duplicate borrower" in msg[8]


def test_national_numbers_use_the_default_region():
    r = parse_leads_text("borrower_id,phone\nb1,13812345678\n")
    assert r.leads[0].phone == "+8613812345678"
    r = parse_leads_text("borrower_id,phone\nb1,(208) 555-0123\n", default_region="US")
    assert r.leads[0].phone == "+12085550123"


def test_error_messages_never_repeat_a_full_number():
    r = parse_leads_text("borrower_id,phone\nb1,+86123456789012\n")
    assert r.errors and "123456789012" not in str(r.errors[0])


def test_missing_required_column():
    r = parse_leads_text("id,phone\n1,13812345678\n")
    assert not r.leads and r.errors[0].line == 1 and "borrower_id" in r.errors[0].field


def test_load_from_file_with_bom(tmp_path):
    p = tmp_path / "leads.csv"
    p.write_bytes("\ufeffborrower_id,phone\nb1,13812345678\n".encode())
    assert load_leads(str(p)).leads[0].borrower_id == "b1"


def test_demo_leads_are_valid_and_distinct():
    leads = list(demo_leads(500))
    assert len({lead.phone for lead in leads}) == 500
    assert all(lead.phone.startswith("+86138") and len(lead.phone) == 14 for lead in leads)


def test_text_that_is_no_number_is_a_row_error_naming_why():
    r = parse_leads_text("borrower_id,phone\nb1,call me\nb2,13812345678\n")
    assert [lead.borrower_id for lead in r.leads] == ["b2"]
    assert len(r.errors) == 1 and r.errors[0].line == 2 and r.errors[0].field == "phone"
    assert "not a phone number (not_a_number)" in str(r.errors[0])
