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

Stream iterators: moto keeps every shard iterator it ever handed out; a consumed one is dropped.

Usage: python moto_serialized.py HOST PORT
"""

import copy
import sys
import threading

from werkzeug.serving import run_simple

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodbstreams.models import DynamoDBStreamsBackend
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
        for shard, length in streams.values():
            del shard.items[length:]
        raise
    finally:
        del Table.__deepcopy__


_get_records = DynamoDBStreamsBackend.get_records


def get_records(self, iterator_arn, limit):
    try:
        return _get_records(self, iterator_arn, limit)
    finally:
        self.shard_iterators.pop(iterator_arn, None)


def main():
    DynamoDBBackend.transact_write_items = transact_write_items
    DynamoDBStreamsBackend.get_records = get_records
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, serialized(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
