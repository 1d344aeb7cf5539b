# -*- coding: utf-8 -*-
# Copyright: cattle.immutable contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one time format we write into tags, SSM history and lock records (docs/naming.md):
UTC, ISO 8601, whole seconds, for example 2026-11-27T10:00:00Z."""

from __future__ import annotations

from datetime import datetime, timezone

FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_now():
    return datetime.now(timezone.utc).replace(microsecond=0)


def iso8601(when):
    """A datetime in our format; a naive one is taken to be UTC already."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime(FORMAT)


def parse_iso8601(text):
    """An aware UTC datetime, or None when the text is not in our format."""
    try:
        return datetime.strptime(text, FORMAT).replace(tzinfo=timezone.utc)
    except (TypeError, ValueError):
        return None
