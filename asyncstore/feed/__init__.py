"""The change feed: every committed write, announced after COMMIT (`Store.changes()`).

See asyncstore.feed.hub for how changes reach a subscriber, asyncstore.feed.notes for what is
noted of each write, and the backends' feed modules for how other processes' commits are seen.
"""

from asyncstore.feed.change import Change, Note, Operation
from asyncstore.feed.hub import ChangeHub, ChangeStream, ChangeWatcher

__all__ = ["Change", "ChangeHub", "ChangeStream", "ChangeWatcher", "Note", "Operation"]
