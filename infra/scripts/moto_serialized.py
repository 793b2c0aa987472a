"""moto server that processes one AWS request at a time.

moto applies a multi-item TransactWriteItems without isolation from concurrent requests
(measured here: 160 concurrent, version-checked, two-item transactions all succeeded but left
157 increments). DynamoDB serializes transactions, and our exactly-once logic relies on that,
so the local stack and the tests run moto behind one lock. Concurrency in our own code (the
read-decide-write races between Lambda invocations) is untouched: only each single AWS call
is atomic, as it is in AWS.

Usage: python moto_serialized.py HOST PORT
"""

import sys
import threading

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

_lock = threading.Lock()


def serialized(app):
    def wrapper(environ, start_response):
        with _lock:
            # Drain the response inside the lock: WSGI bodies can be lazy.
            return [b"".join(app(environ, start_response))]

    return wrapper


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, serialized(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
