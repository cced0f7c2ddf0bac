"""The freeze watchdog of negotiated sessions (docs/protocol.md §14): a
freeze with a timeout is thawed by the agent itself, which tells sessions
that enabled events. Legacy sessions cannot pass a timeout at all. Uses a
loop-mounted filesystem of its own; qgad only."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
import fstest  # noqa: E402
from qgatest import AgentTest, is_qemu_ga, main  # noqa: E402

FREEZE_TIMEOUT_MAX = 86400


def setUpModule():
    fstest.lock()


def tearDownModule():
    fstest.unlock()


class Watchdog(fstest.LoopFsTest, AgentTest):
    @classmethod
    def setUpClass(cls):
        if is_qemu_ga():
            raise unittest.SkipTest('qgad only')
        super().setUpClass()

    def setUp(self):
        self.addCleanup(fstest.thaw, self.fs.mnt)
        self.c.cmd('guest-sync', {'id': 0})

    def negotiate(self, enable):
        self.c.ok('request-negotiation')
        self.assertEqual(self.c.cmd('qmp_capabilities', {'enable': enable}), {'return': {}})

    def test_legacy_has_no_timeout(self):
        r = self.c.cmd('guest-fsfreeze-freeze-list',
                       {'mountpoints': [self.fs.mnt], 'timeout': 1})
        self.assertError(r, desc="Parameter 'timeout' is unexpected")
        self.assertFalse(fstest.is_frozen(self.fs.mnt))
        r = self.c.cmd('guest-fsfreeze-freeze', {'timeout': 1})
        self.assertError(r, desc="Parameter 'timeout' is unexpected")

    def test_watchdog_thaws_and_tells(self):
        self.negotiate(['events'])
        r = self.c.cmd('guest-fsfreeze-freeze-list',
                       {'mountpoints': [self.fs.mnt], 'timeout': 1}, id='f')
        self.assertEqual(r, {'return': 1, 'id': 'f'})
        self.assertTrue(fstest.is_frozen(self.fs.mnt))
        ev = self.c.reply(timeout=30)
        self.assertEqual(ev['event'], 'FSFREEZE_WATCHDOG_THAWED')
        self.assertEqual(ev['data'], {'thawed': 1})
        self.assertFalse(fstest.is_frozen(self.fs.mnt))
        self.assertEqual(self.c.ok('guest-fsfreeze-status'), 'thawed')

    def test_thaw_in_time_disarms(self):
        self.negotiate(['events'])
        r = self.c.cmd('guest-fsfreeze-freeze-list',
                       {'mountpoints': [self.fs.mnt], 'timeout': 1})
        self.assertEqual(r, {'return': 1})
        self.assertEqual(self.c.cmd('guest-fsfreeze-thaw'), {'return': 1})
        # No event once the client thawed by itself.
        self.assertTrue(self.c.no_reply(2))

    def test_timeout_limits(self):
        self.negotiate([])
        for bad in (0, -1, FREEZE_TIMEOUT_MAX + 1):
            r = self.c.cmd('guest-fsfreeze-freeze-list',
                           {'mountpoints': [self.fs.mnt], 'timeout': bad})
            self.assertError(r, desc="value '%d' is invalid for argument timeout" % bad)
            self.assertFalse(fstest.is_frozen(self.fs.mnt))
        r = self.c.cmd('guest-fsfreeze-freeze-list',
                       {'mountpoints': [self.fs.mnt], 'timeout': FREEZE_TIMEOUT_MAX})
        self.assertEqual(r, {'return': 1})
        self.assertEqual(self.c.cmd('guest-fsfreeze-thaw'), {'return': 1})

    def test_no_event_without_events(self):
        self.negotiate([])
        r = self.c.cmd('guest-fsfreeze-freeze-list',
                       {'mountpoints': [self.fs.mnt], 'timeout': 1})
        self.assertEqual(r, {'return': 1})
        deadline = time.time() + 20
        while fstest.is_frozen(self.fs.mnt) and time.time() < deadline:
            time.sleep(0.1)
        self.assertFalse(fstest.is_frozen(self.fs.mnt))
        self.assertTrue(self.c.no_reply(0.5))
        self.assertEqual(self.c.ok('guest-fsfreeze-status'), 'thawed')


if __name__ == '__main__':
    main()
