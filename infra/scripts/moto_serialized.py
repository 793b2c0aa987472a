"""moto server that processes one AWS request at a time, with two fixes for long runs.

Serialized: moto applies a multi-item TransactWriteItems without isolation from concurrent
requests (measured here: 160 concurrent, version-checked, two-item transactions all succeeded
but left 157 increments). DynamoDB serializes transactions, and our exactly-once logic relies on
that, so the local stack and the tests run moto behind one lock. Concurrency in our own code
(the read-decide-write races between Lambda invocations) is untouched: only each single AWS
call is atomic, as it is in AWS.

Transactions without table copies: moto backs up every table a TransactWriteItems touches with
a deep copy (items and stream records) so it can roll back. That made each transaction cost
time and garbage in proportion to the table: after ~3,000 webhook deliveries single calls took
seconds and the process held 8.9 GB. Here a transaction snapshots only the items it names and
the length of each table's stream, and a failed one restores exactly those: the same
all-or-nothing result, at a cost independent of the table's size.

Stream iterators: moto keeps every shard iterator it ever handed out; a consumed one is dropped,
and one not used for 15 minutes expires (as in DynamoDB Streams).

Stream records: moto keeps every change of every item forever (DynamoDB Streams keeps them 24
hours). Records that every live iterator of the shard has passed are trimmed from the shard's
head, as DynamoDB trims its own: a reader that asks for TRIM_HORIZON then starts at the oldest
record still unread. With no live iterator (nobody reads the stream) nothing is trimmed.

Queries that read only what they ask for: moto answers a Query by sorting every item of the
table and testing each (a GSI query, and a query on the table's own key alike), so each query
costs time in proportion to the table, where DynamoDB's costs in proportion to the answer. Here
a query on the table's key looks only at that partition, and a query on a GSI's hash key only
at the items that index holds under that key: per table with a stream, each GSI's items are
kept by hash key, built on the GSI's first query and updated on every change of an item (the
stream's one hook sees them all: puts, updates, deletes, transactions). moto's own query code
then sorts, filters and pages those candidates as before, so the answers are the same. Tables
without a stream, and multi-attribute GSI keys, are queried moto's way.

Model instances: moto appends every model object it ever creates (each stream record, item copy,
shard iterator, mail) to a per-class list that only its dashboard reads (`/moto-api/data.json`),
so every write kept about 20 KB alive for good. Here models are not tracked: memory follows
what the backends hold, and the dashboard's data lists no instances (the local stack reads
none of it).

SES: moto keeps every mail it accepted, with its body. The local stack keeps its own record of
what it sent (`GET /_local/mail`), so moto keeps only the last 1,000.

Usage: python moto_serialized.py HOST PORT
"""

import copy
import sys
import threading
import time

from werkzeug.serving import run_simple

from moto.core.common_models import BaseModel
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import GlobalSecondaryIndex, StreamShard, Table
from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator
from moto.ses.models import SESBackend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

_lock = threading.Lock()


def serialized(app):
    def wrapper(environ, start_response):
        with _lock:
            # Drain the response inside the lock: WSGI bodies can be lazy.
            return [b"".join(app(environ, start_response))]

    return wrapper


def _item_key(table, op):
    """The (hash, range) DynamoTypes of the item a transaction entry names."""
    attrs = op["Key"] if "Key" in op else op["Item"]
    hash_value = DynamoType(attrs[table.hash_key_attr])
    range_value = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
    return hash_value, range_value


def _restore(table, hash_value, range_value, item):
    if range_value is not None:
        if item is None:
            table.items.get(hash_value, {}).pop(range_value, None)
        else:
            table.items[hash_value][range_value] = item
    elif item is None:
        table.items.pop(hash_value, None)
    else:
        table.items[hash_value] = item


_transact_write_items = DynamoDBBackend.transact_write_items


def transact_write_items(self, transact_items):
    snapshots = []
    streams = {}
    for entry in transact_items:
        op = next(iter(entry.values()), {})
        table = self.tables.get(op.get("TableName")) if isinstance(op, dict) else None
        if table is None:
            continue
        try:
            hash_value, range_value = _item_key(table, op)
        except (KeyError, TypeError):
            continue  # moto's own validation refuses the request
        snapshots.append((table, hash_value, range_value, copy.deepcopy(table.get_item(hash_value, range_value))))
        if table.stream_shard is not None:
            streams[id(table)] = (table.stream_shard, len(table.stream_shard.items))
    # moto's own rollback deep-copies whole tables; with these snapshots it need not.
    Table.__deepcopy__ = lambda table, memo: table
    try:
        return _transact_write_items(self, transact_items)
    except Exception:
        for table, hash_value, range_value, item in reversed(snapshots):
            _restore(table, hash_value, range_value, item)
            _reindex(table, (hash_value, range_value), item)
        for shard, length in streams.values():
            del shard.items[length:]
        raise
    finally:
        del Table.__deepcopy__


_get_records = DynamoDBStreamsBackend.get_records

# DynamoDB Streams: "A shard iterator expires 15 minutes after it is returned to the requester."
ITERATOR_LIFETIME_S = 15 * 60

_iterator_init = ShardIterator.__init__


def iterator_init(self, *args, **kwargs):
    _iterator_init(self, *args, **kwargs)
    self.issued_at = time.monotonic()


def get_records(self, iterator_arn, limit):
    shard = getattr(self.shard_iterators.get(iterator_arn), "stream_shard", None)
    try:
        return _get_records(self, iterator_arn, limit)
    finally:
        self.shard_iterators.pop(iterator_arn, None)
        if shard is not None:
            _trim(self, shard)


def _trim(backend, shard):
    """Drops expired iterators, then the records every live iterator of `shard` has passed."""
    now = time.monotonic()
    expired = [arn for arn, it in backend.shard_iterators.items() if now - getattr(it, "issued_at", now) > ITERATOR_LIFETIME_S]
    for arn in expired:
        del backend.shard_iterators[arn]
    positions = [it.sequence_number for it in backend.shard_iterators.values() if it.stream_shard is shard]
    if not positions:
        return
    passed = min(positions) - shard.starting_sequence_number
    if passed > 0:
        del shard.items[:passed]
        shard.starting_sequence_number += passed


# --- Queries that read only what they ask for ---------------------------------------------

def _hash_attr(index):
    hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
    return hashes[0] if len(hashes) == 1 else None


def _key(value):
    return (value.type, value.cast_value)


def _buckets(table, index):
    """{hash key: {primary key: item}} of a GSI, kept on the table's stream shard (None: the
    table has no stream, so changes are not seen, or the index key has several attributes)."""
    shard = table.stream_shard
    attr = _hash_attr(index)
    if shard is None or attr is None:
        return None
    kept = shard.__dict__.setdefault("gsi_buckets", {})
    if index.name not in kept:
        buckets, of = {}, {}
        for item in table.all_items():
            value = item.attrs.get(attr)
            if value is not None:
                pk = (item.hash_key, item.range_key)
                buckets.setdefault(_key(value), {})[pk] = item
                of[pk] = _key(value)
        kept[index.name] = (attr, buckets, of)
    return kept[index.name][1]


def _reindex(table, pk, item):
    """Moves one item (None: deleted) to its bucket in each GSI already kept."""
    shard = table.stream_shard
    for attr, buckets, of in getattr(shard, "gsi_buckets", {}).values():
        old = of.pop(pk, None)
        if old is not None:
            bucket = buckets.get(old)
            if bucket is not None:
                bucket.pop(pk, None)
                if not bucket:
                    del buckets[old]
        value = item.attrs.get(attr) if item is not None else None
        if value is not None:
            buckets.setdefault(_key(value), {})[pk] = item
            of[pk] = _key(value)


_stream_add = StreamShard.add


def stream_add(self, old, new):
    _stream_add(self, old, new)
    changed = new if new is not None else old
    if changed is not None:
        _reindex(self.table, (changed.hash_key, changed.range_key), new)


def _candidates(table, hash_key, index_name, hash_key_conditions):
    """The items a query can answer with, or None to let moto look at every item."""
    if not index_name:
        if hash_key is None or hash_key not in table.items:
            return [] if hash_key is not None else None
        partition = table.items[hash_key]
        return list(partition.values()) if table.range_key_attr else [partition]
    index = next((i for i in table.all_indexes() if i.name == index_name), None)
    if index is None:
        return None
    if not isinstance(index, GlobalSecondaryIndex):
        # A local index shares the table's partition key.
        value = dict(hash_key_conditions or []).get(table.hash_key_attr, hash_key)
        return _candidates(table, value, None, None)
    buckets = _buckets(table, index)
    if buckets is None:
        return None
    attr = _hash_attr(index)
    value = dict(hash_key_conditions or []).get(attr, hash_key)
    if value is None:
        return None
    return list(buckets.get(_key(value), {}).values())


_query = Table.query


def query(self, hash_key, *args, **kwargs):
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    candidates = _candidates(self, hash_key, index_name, kwargs.get("hash_key_conditions"))
    if candidates is None:
        return _query(self, hash_key, *args, **kwargs)
    # moto's query reads `self.all_items()`: hand it the candidates, in moto's order.
    candidates.sort(key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)
    self.all_items = lambda: candidates
    try:
        return _query(self, hash_key, *args, **kwargs)
    finally:
        del self.all_items


# --- Models not tracked ----------------------------------------------------------------------

def untracked_new(cls, *args, **kwargs):
    """`BaseModel.__new__` without appending the instance to `cls.instances_tracked`."""
    return object.__new__(cls)


# --- SES: the last sent mails only ----------------------------------------------------------

SES_MESSAGES_KEPT = 1000


def _keeping_last_messages(send):
    def sending(self, *args, **kwargs):
        message = send(self, *args, **kwargs)
        del self.sent_messages[:-SES_MESSAGES_KEPT]
        return message

    return sending


def main():
    DynamoDBBackend.transact_write_items = transact_write_items
    DynamoDBStreamsBackend.get_records = get_records
    ShardIterator.__init__ = iterator_init
    StreamShard.add = stream_add
    Table.query = query
    BaseModel.__new__ = staticmethod(untracked_new)
    SESBackend.send_email = _keeping_last_messages(SESBackend.send_email)
    SESBackend.send_raw_email = _keeping_last_messages(SESBackend.send_raw_email)
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, serialized(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
