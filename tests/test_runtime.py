"""tlcourse.runtime: one thread policy; network failures become a clear OfflineError."""
import urllib.request

import pytest
import torch

import tlcourse as tl
from tlcourse import runtime


def test_import_applies_the_thread_policy():
    assert torch.get_num_threads() == runtime.THREADS


def test_network_turns_a_silent_server_into_offline_error(silent_server, short_timeout):
    with pytest.raises(tl.OfflineError, match="Could not download the thing.*Offline, use the other"):
        with runtime.network("the thing", "the other"):
            urllib.request.urlopen(silent_server).read()


def test_network_leaves_other_errors_alone():
    with pytest.raises(KeyError):
        with runtime.network("x", "y"):
            raise KeyError("not a network problem")


def test_format_seconds_matches_the_nbval_sanitizer():
    import configparser
    import re
    from pathlib import Path
    config = configparser.ConfigParser()
    config.read(Path(__file__).parents[1] / "notebooks" / "sanitize.cfg")
    assert re.fullmatch(config["durations"]["regex"], runtime.format_seconds(93.456))
    # A table pads short durations with one more space than long ones; after masking, both read the same.
    import pandas as pd
    rule = config["durations"]
    tables = [pd.Series([runtime.format_seconds(s) for s in pair], name="wall time").to_string()
              for pair in ((5.7, 12.3), (16.6, 12.7))]
    masked = [re.sub(rule["regex"], rule["replace"], table) for table in tables]
    assert tables[0] != tables[1] and masked[0] == masked[1]
