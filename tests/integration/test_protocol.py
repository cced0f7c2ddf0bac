"""Wire protocol: framing, the JSON reader's errors and limits, request
validation, replies. Every case here runs against qgad and qemu-ga."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from qgatest import AgentTest, main  # noqa: E402


class Framing(AgentTest):
    def test_split_request(self):
        self.c.send('{"execute":')
        self.assertTrue(self.c.no_reply(0.2))
        self.c.send('"guest-ping", "id": "split"}')
        self.assertEqual(self.c.reply(), {'return': {}, 'id': 'split'})

    def test_pipelined_without_newline(self):
        self.c.send('{"execute":"guest-sync","arguments":{"id":1}}'
                    '{"execute":"guest-sync","arguments":{"id":2}}')
        self.assertEqual(self.c.reply(), {'return': 1})
        self.assertEqual(self.c.reply(), {'return': 2})

    def test_sync_delimited_sentinel(self):
        self.c.request('guest-sync-delimited', {'id': 77})
        self.assertEqual(self.c.line(), b'\xff{"return": 77}')


if __name__ == '__main__':
    main()
