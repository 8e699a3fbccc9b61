"""The helpers every layer shares: parameter checks, the CLIs' one-line usage error and argument types, checksums,
loopback addresses."""

from __future__ import annotations

import argparse
import hashlib
import math

import numpy as np
import pytest

from verl_anomseer.cli_args import OneLineParser, UsageError, non_negative_float, positive
from verl_anomseer.fileio import file_sha256, write_text
from verl_anomseer.netaddr import is_loopback
from verl_anomseer.validation import check_positive, check_positive_int


@pytest.mark.parametrize("value", [1e-12, 0.5, 3, np.float32(2.5), np.int64(7)])
def test_positive_numbers_pass_as_floats(value):
    assert check_positive("eps", value) == float(value)


@pytest.mark.parametrize("value", [0, -1.0, math.nan, math.inf, -math.inf, True, "1", None, [1.0]])
def test_anything_else_is_refused_with_the_name_and_the_value(value):
    with pytest.raises(ValueError, match=r"^eps must be a finite number > 0, got "):
        check_positive("eps", value)


def test_inf_passes_only_where_it_switches_a_threshold_off():
    assert check_positive("k", math.inf, allow_inf=True) == math.inf
    with pytest.raises(ValueError, match=r"^k must be > 0 or inf, got nan$"):
        check_positive("k", math.nan, allow_inf=True)


def test_a_caller_raises_its_own_error_type():
    class ConfigError(ValueError):
        pass

    with pytest.raises(ConfigError, match=r"^grounding\.tau must be"):
        check_positive("grounding.tau", 0, ConfigError)
    with pytest.raises(ConfigError, match=r"^grounding\.n_iter must be an integer >= 1, got 0$"):
        check_positive_int("grounding.n_iter", 0, ConfigError)


@pytest.mark.parametrize(("value", "ok"), [(1, True), (np.int32(4), True), (0, False), (True, False), (2.0, False)])
def test_positive_integers(value, ok):
    if ok:
        assert check_positive_int("n_iter", value) == int(value)
    else:
        with pytest.raises(ValueError, match="n_iter must be an integer >= 1"):
            check_positive_int("n_iter", value)


def test_the_parser_reports_one_line_instead_of_exiting():
    p = OneLineParser(prog="x")
    p.add_argument("--n", type=positive(int), required=True)
    p.add_argument("--t", type=non_negative_float, default=0.0)
    assert p.parse_args(["--n", "3", "--t", "0"]).n == 3
    for argv, message in (
        ([], "the following arguments are required: --n"),
        (["--n", "0"], "argument --n: must be > 0, got 0"),
        (["--n", "1", "--t", "-1"], "argument --t: must be >= 0, got -1"),
        (["--n", "1", "--t", "nan"], "argument --t: must be >= 0, got nan"),
    ):
        with pytest.raises(UsageError) as caught:
            p.parse_args(argv)
        assert str(caught.value) == message and "\n" not in str(caught.value)


def test_argument_types_name_the_rule():
    with pytest.raises(argparse.ArgumentTypeError, match="must be > 0, got inf"):
        positive(float)("inf")
    with pytest.raises(argparse.ArgumentTypeError, match="must be >= 0, got -0.5"):
        non_negative_float("-0.5")


def test_the_checksum_is_hashlibs_over_the_whole_file(tmp_path):
    data = bytes(range(256)) * 9000  # more than one 1 MiB block
    (tmp_path / "f.bin").write_bytes(data)
    assert file_sha256(tmp_path / "f.bin") == hashlib.sha256(data).hexdigest()
    write_text(tmp_path / "t.txt", "abc")
    assert file_sha256(tmp_path / "t.txt") == hashlib.sha256(b"abc").hexdigest()


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.3.2.1", True),  # all of 127.0.0.0/8
        ("::1", True),
        ("::ffff:127.0.0.1", True),  # how a dual-stack socket shows an IPv4 loopback peer
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("::ffff:10.0.0.7", False),
        ("10.0.0.7", False),
        ("head-node", False),
        ("", False),
    ],
)
def test_loopback_hosts(host, expected):
    assert is_loopback(host) is expected
