#!/usr/bin/env python3
"""An SMTP server (aiosmtpd) that stores each message, then stalls before
answering the end of DATA: the sender's process can be killed while it waits
for "250", after the message has arrived. For tests/pg_faults.rs.

    stall_smtpd.py MAILDIR STALL_SECONDS

Listens on a free port of 127.0.0.1, prints "PORT <n>" once it accepts
connections, and stores each message as MAILDIR/new/<seq>.eml. Runs until
killed.
"""
import asyncio
import os
import socket
import sys
import time

from aiosmtpd.controller import Controller


def main():
    maildir, stall = sys.argv[1], float(sys.argv[2])
    for sub in ("tmp", "new"):
        os.makedirs(os.path.join(maildir, sub), exist_ok=True)
    state = {"seq": 0}

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            state["seq"] += 1
            name = "%06d.eml" % state["seq"]
            tmp = os.path.join(maildir, "tmp", name)
            with open(tmp, "wb") as f:
                f.write(envelope.original_content or envelope.content)
            os.rename(tmp, os.path.join(maildir, "new", name))
            await asyncio.sleep(stall)
            return "250 Message accepted for delivery"

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    c = Controller(Handler(), hostname="127.0.0.1", port=port)
    c.start()
    print("PORT %d" % port, flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        c.stop()


if __name__ == "__main__":
    sys.exit(main())
