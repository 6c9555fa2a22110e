"""Parsing a results CSV (analyzer export): delimiters, BOM, header, empty values, line numbers."""

from __future__ import annotations

import pytest

from labvault.workflow.csv_import import CsvLineError, CsvResultRow, detect_delimiter, parse_results_csv


def refused(text: str | bytes) -> CsvLineError:
    with pytest.raises(CsvLineError) as caught:
        parse_results_csv(text)
    return caught.value


def test_comma_file_with_comment_column() -> None:
    rows = parse_results_csv(
        "barcode,test_code,value,comment\n0000000001,k,4.2,\n0000000001,NA,140,contrôle à 10 h\n"
    )
    assert rows == [
        CsvResultRow(2, "0000000001", "K", "4.2", None),
        CsvResultRow(3, "0000000001", "NA", "140", "contrôle à 10 h"),
    ]


def test_semicolon_file_keeps_decimal_commas_and_crlf() -> None:
    rows = parse_results_csv("Barcode;Test_Code;Value\r\n0000000001;GLU;5,4\r\n0000000002;HIV;negative\r\n")
    assert [(r.line, r.test_code, r.value) for r in rows] == [(2, "GLU", "5,4"), (3, "HIV", "negative")]
    assert all(r.comment is None for r in rows)


def test_columns_in_any_order_and_quoted_fields() -> None:
    rows = parse_results_csv('value,barcode,test_code\n"5,4",0000000001,GLU\n')
    assert rows == [CsvResultRow(2, "0000000001", "GLU", "5,4")]


def test_byte_order_mark_and_utf8_bytes() -> None:
    data = "\ufeffbarcode;test_code;value;comment\n0000000001;CRP;12,5;fièvre\n".encode()
    rows = parse_results_csv(data)
    assert rows == [CsvResultRow(2, "0000000001", "CRP", "12,5", "fièvre")]


def test_not_utf8_names_the_line() -> None:
    data = "barcode,test_code,value,comment\n1,K,4.2,\n2,NA,140,contr\xf4le\n".encode("latin-1")
    error = refused(data)
    assert error.line == 3 and "UTF-8" in str(error)


def test_delimiter_detection() -> None:
    assert detect_delimiter("barcode,test_code,value") == ","
    assert detect_delimiter("barcode;test_code;value;comment") == ";"
    with pytest.raises(CsvLineError):
        detect_delimiter("barcode\ttest_code\tvalue")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "line 1: the file must start with a header line"),
        ("\nbarcode,test_code,value\n1,K,4\n", "line 1: the file must start with a header line"),
        ("0000000001,K,4.2\n", "line 1: the header must name the columns barcode, test_code, value"),
        ("barcode,test_code\n1,K\n", "line 1: the header must name the columns"),
        ("barcode,test_code,value,unit\n1,K,4,mmol/L\n", "line 1: unknown column 'unit'"),
        ("barcode,test_code,value,value\n1,K,4,5\n", "line 1: column 'value' appears twice"),
        ("barcode,test_code,value\n", "line 1: no result rows after the header"),
    ],
)
def test_header_problems(text: str, expected: str) -> None:
    assert str(refused(text)).startswith(expected)


def test_empty_value_names_line_and_column() -> None:
    error = refused("barcode,test_code,value\n1,K,4.2\n\n2,NA, \n")
    assert str(error) == "line 4, value: is empty"
    assert (error.line, error.column) == (4, "value")


def test_empty_barcode_and_bad_test_code() -> None:
    assert str(refused("barcode;test_code;value\n;K;4\n")) == "line 2, barcode: is empty"
    assert str(refused("barcode;test_code;value\n1;K+;4\n")).startswith("line 2, test_code: must be")


def test_wrong_field_count_hints_at_decimal_comma() -> None:
    error = refused("barcode,test_code,value\n1,K,4.2\n2,GLU,5,4\n")
    assert error.line == 3 and "4 fields where the header has 3" in str(error)
    assert "decimal comma" in str(error)


def test_blank_lines_are_skipped_but_counted() -> None:
    rows = parse_results_csv("barcode,test_code,value\n\n1,K,4.2\n\n\n2,NA,140\n")
    assert [r.line for r in rows] == [3, 6]


def test_multiline_quoted_comment_numbers_the_next_rows_right() -> None:
    text = 'barcode,test_code,value,comment\n1,K,4.2,"deux\nlignes"\n1,NA,abc,\n2,CL,,\n'
    assert str(refused(text)) == "line 5, value: is empty"  # the K row took lines 2 and 3


def test_duplicate_pair_names_both_lines() -> None:
    error = refused("barcode,test_code,value\n1,K,4.2\n2,K,4.0\n1,k,4.4\n")
    assert str(error) == "line 4, test_code: same barcode and test as line 2"


def test_malformed_quotes_are_refused_with_their_line() -> None:
    error = refused('barcode,test_code,value\n1,K,4.2\n2,NA,"14"0\n')
    assert error.line == 3 and "malformed" in str(error)


def test_too_many_rows() -> None:
    body = "".join(f"{n},K,4\n" for n in range(4))
    with pytest.raises(CsvLineError) as caught:
        parse_results_csv("barcode,test_code,value\n" + body, max_rows=3)
    assert caught.value.line == 5 and "more than 3" in str(caught.value)


def test_error_messages_never_echo_the_value() -> None:
    error = refused("barcode,test_code,value\n1,K,4.2\n2,GLU,5,4,secret-ish\n")
    assert "secret-ish" not in str(error)
